"""``vvolguard escalate PATH... -o FILE``: exit codes, the mapping beside the output, no overwrite."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from escalate_incident import SOURCE, write_incident
from typer.testing import CliRunner

from vvolguard.cli.main import app

runner = CliRunner()


def test_escalate_writes_the_archive_and_keeps_the_mapping_outside(tmp_path: Path) -> None:
    written = write_incident(tmp_path)
    out = tmp_path / "out" / "case.zip"
    args = ["escalate", *map(str, written.paths), "-o", str(out), "--redact", "--window-minutes", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert "partial  esxcli storage vvol protocolendpoint list output" in result.output
    # the sender's terminal names the real host to collect from; the archive only has aliases
    assert "collect: on esx-05.corp.example.com: esxcli storage vvol protocolendpoint list" in result.output
    mapping = out.with_name("case.zip.redaction-map.json")
    assert f"redaction mapping (keep it, do not send it): {mapping}" in result.output
    assert SOURCE in json.loads(mapping.read_text())["aliases"]["host"]
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        manifest = json.loads(z.read(next(n for n in names if n.endswith("/manifest.json"))))
    assert manifest["excerpt_window_minutes"] == 3
    assert not any(SOURCE in n for n in names)


def test_escalate_refuses_to_overwrite_an_input(tmp_path: Path) -> None:
    written = write_incident(tmp_path)
    victim = tmp_path / "evidence.zip"
    with zipfile.ZipFile(victim, "w") as z:
        z.write(written.tasks_csv, "tasks.csv")
    before = victim.read_bytes()
    result = runner.invoke(app, ["escalate", str(victim), "-o", str(victim), "--force"])
    assert result.exit_code == 2
    assert "overwrite an input" in result.output
    assert victim.read_bytes() == before


def test_escalate_rejects_an_unknown_format(tmp_path: Path) -> None:
    written = write_incident(tmp_path)
    result = runner.invoke(app, ["escalate", str(written.tasks_csv), "-o", str(tmp_path / "case.7z")])
    assert result.exit_code == 2
    assert ".zip, .tar.gz or .tgz" in result.output
    assert not (tmp_path / "case.7z").exists()
