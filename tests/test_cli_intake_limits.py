"""The decompression limits as a user sets them: ``--max-expanded`` and ``--max-depth`` reach both
``diagnose`` and ``escalate`` (issue #17), and the #17 inputs end in a warning, never exit 3."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
import zlib
from pathlib import Path

from typer.testing import CliRunner

from vvolguard.cli.main import app

WAITS = "".join(
    f"2026-03-14T10:02:{s:02d}.000Z warning vvold[2100874] [Originator@6876 sub=Default]\n"
    "--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 "
    "(url: https://10.1.1.10:8084/vasa) [#outstanding 5/5] - waiting\n"
    for s in range(0, 60, 5)
).encode()


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _cases(tmp_path: Path) -> list[Path]:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = tmp_path / "vvold.1.gz"
    bomb.write_bytes(comp.compress(WAITS) + comp.compress(bytes(24 * 1024 * 1024)) + comp.flush())
    data, name = WAITS, "vvold.log"
    for level in range(150):
        data, name = _tgz({name: data}), f"level-{level}.tgz"
    nested = tmp_path / "nested.tgz"
    nested.write_bytes(data)
    good = tmp_path / "esx-esx-03-2026-03-14--10.22-1.tgz"
    good.write_bytes(_tgz({"esx-esx-03-2026-03-14--10.22-1/var/run/log/vvold.log": WAITS}))
    return [bomb, nested, good]


def test_diagnose_names_each_limit_and_still_diagnoses(tmp_path: Path) -> None:
    paths = [str(p) for p in _cases(tmp_path)]
    result = CliRunner().invoke(
        app, ["diagnose", *paths, "--json", "--max-expanded", "1M", "--max-depth", "2"]
    )
    assert result.exit_code in (0, 1), result.output
    document = json.loads(result.stdout)
    messages = [f"{w['file']}: {w['message']}" for w in document["warnings"]]
    assert any("vvold.1.gz" in m and "--max-expanded" in m for m in messages), messages
    assert any("nested.tgz" in m and "more than 2 levels" in m for m in messages), messages
    used = {Path(i["file"].split("!", 1)[0]).name for i in document["inputs"] if i["records"]}
    assert "esx-esx-03-2026-03-14--10.22-1.tgz" in used, "the sound bundle next to them is read"
    assert "vvold.1.gz" in used, "what came before the cap is used"


def test_escalate_uses_the_same_limits(tmp_path: Path) -> None:
    paths = [str(p) for p in _cases(tmp_path)]
    out = tmp_path / "case.zip"
    result = CliRunner().invoke(app, ["escalate", *paths, "-o", str(out), "--max-expanded", "1M"])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read(next(n for n in zf.namelist() if n.endswith("manifest.json"))))
    text = json.dumps(manifest)
    assert "--max-expanded" in text and "levels deep" in text


def test_a_size_that_is_not_one_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path), "--max-expanded", "lots"])
    assert result.exit_code == 2
    assert "is not a size" in result.output
