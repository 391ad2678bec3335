"""`vvolguard diagnose` end to end, through the real console entry point.

Bad input of every kind the issue names must produce a warning that names the file, the good
evidence must still decide the verdict, no traceback may reach the user, and the inputs must be
left byte-for-byte and mtime-for-mtime as they were.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SATURATED_VVOLD = """\
2024-03-14T10:02:00.000Z info vvold[2100874] [Originator@6876 sub=Default] Section for VMware ESX, pid=2100874, version=7.0.3, build=20328353, option=Release
2024-03-14T10:02:11.418Z warning vvold[2100874] [Originator@6876 sub=Default]
--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.1.1.10:8084/vasa) [#outstanding 5/5] - waiting
"""  # noqa: E501


def _saturated_log(waits: int = 12) -> str:
    lines = [SATURATED_VVOLD]
    for i in range(waits):
        second = 12 + i * 3
        lines.append(
            f"2024-03-14T10:02:{second:02d}.000Z warning vvold[2100874] [Originator@6876 sub=Default]\n"
            f"--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 "
            f"(url: https://10.1.1.10:8084/vasa) [#outstanding 5/5] - waiting\n"
        )
        lines.append(
            f"2024-03-14T10:02:{second:02d}.500Z error vvold[2100874] [Originator@6876 sub=Default]\n"
            f"--> VasaOp::ThrowFromSessionError [#{90215 + i}]: ===> FINAL FAILURE createVirtualVolume, "
            f"error (TIMEOUT / Operation timed out) VP (pure-ct0) Container "
            f"(b487b73a-6128-3ad2-873b-8ddb1ba45d4f) timeElapsed=60012 msecs (#outstanding 5)\n"
        )
    return "".join(lines)


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vvolguard.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "120"},
        timeout=300,
    )


def _snapshot(paths: list[Path]) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


@pytest.fixture
def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "vvold.log"
    good.write_text(_saturated_log())
    truncated = tmp_path / "vvold.1.gz"
    packed = gzip.compress(_saturated_log(40).encode())
    truncated.write_bytes(packed[: len(packed) // 2])
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 64)
    unknown = tmp_path / "notes.txt"
    unknown.write_text("the storage admin said everything is fine\nlunch at noon\n")
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    huge = tmp_path / "hostd.log"
    huge.write_text(
        "2024-03-14T10:02:11.418Z info hostd[1] [Originator@6876 sub=Default] " + "x" * 10_000_000 + "\n"
    )
    old = tmp_path / "vvold-esx41.log"
    old.write_text("[2011-04-01 15:14:34.203 F5A5AB90 info 'vm:/vmfs/volumes/x'] something old\n" * 3)
    return {
        "good": good,
        "truncated": truncated,
        "junk": junk,
        "unknown": unknown,
        "empty": empty,
        "huge": huge,
        "old": old,
    }


def test_bad_inputs_warn_by_name_and_good_evidence_still_decides(bad_inputs: dict[str, Path]) -> None:
    paths = list(bad_inputs.values())
    before = _snapshot(paths)
    result = run_cli("diagnose", "--json", *paths)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    doc = json.loads(result.stdout)
    assert doc["schema"] == "vvolguard.diagnosis/v1"
    assert doc["verdict"]["class"] == "provider-saturation"
    warned = {Path(w["file"]).name for w in doc["warnings"]}
    for key in ("truncated", "junk", "unknown", "empty", "old"):
        assert bad_inputs[key].name in warned, (key, doc["warnings"])
    # the truncated rotation still contributed the lines before the damage
    inputs = {Path(i["file"]).name: i for i in doc["inputs"]}
    assert inputs["vvold.1"]["records"] > 0 if "vvold.1" in inputs else inputs["vvold.1.gz"]["records"] > 0
    assert _snapshot(paths) == before, "inputs must never be modified"


def test_nothing_usable_exits_2_with_reasons(bad_inputs: dict[str, Path], tmp_path: Path) -> None:
    result = run_cli("diagnose", bad_inputs["junk"], bad_inputs["empty"], tmp_path / "missing.log")
    assert result.returncode == 2
    assert "nothing given was usable" in result.stderr
    assert "junk.bin" in result.stderr and "missing.log" in result.stderr
    assert "Traceback" not in result.stderr


def test_nothing_usable_with_json_still_prints_the_document_with_the_reasons(
    bad_inputs: dict[str, Path], tmp_path: Path
) -> None:
    """``diagnose … --json > out.json`` must not leave an empty file: automation needs the why."""
    result = run_cli("diagnose", "--json", bad_inputs["junk"], tmp_path / "missing.log")
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert doc["schema"] == "vvolguard.diagnosis/v1"
    assert {Path(w["file"]).name for w in doc["warnings"]} >= {"junk.bin", "missing.log"}
    assert "nothing given was usable" in result.stderr


def test_fail_on_severity_for_automation(bad_inputs: dict[str, Path]) -> None:
    matched = run_cli("diagnose", "--json", "--fail-on", "high", bad_inputs["good"])
    assert matched.returncode == 1
    # stderr names what matched; stdout stays one JSON document
    findings = json.loads(matched.stdout)["findings"]
    high = [f for f in findings if f["severity"] in ("high", "critical")]
    assert high and "--fail-on high" in matched.stderr
    for f in high:
        assert f"{f['severity']}: {f['id']}: {f['title']}" in matched.stderr
    assert run_cli("diagnose", "--fail-on", "critical", bad_inputs["good"]).returncode in (0, 1)
    calm = bad_inputs["good"].parent / "calm.log"
    calm.write_text(SATURATED_VVOLD.splitlines()[0] + "\n")
    assert run_cli("diagnose", "--fail-on", "high", calm).returncode == 0


def test_bad_option_values_are_clear(bad_inputs: dict[str, Path]) -> None:
    result = run_cli("diagnose", "--now", "yesterday", bad_inputs["good"])
    assert result.returncode == 2 and "--now" in result.stderr
    result = run_cli("diagnose", "--threshold", "no_such_threshold=3", bad_inputs["good"])
    assert result.returncode == 2 and "no_such_threshold" in result.stderr
    assert "Traceback" not in result.stderr


def test_reports_are_written_and_inputs_never_overwritten(
    bad_inputs: dict[str, Path], tmp_path: Path
) -> None:
    html, md = tmp_path / "report.html", tmp_path / "summary.md"
    result = run_cli("diagnose", bad_inputs["good"], "--html", html, "--markdown", md)
    assert result.returncode == 0, result.stderr
    assert "<svg" in html.read_text() and "provider-saturation" in md.read_text()
    before = _snapshot([bad_inputs["good"]])
    result = run_cli("diagnose", bad_inputs["good"], "--markdown", bad_inputs["good"])
    assert result.returncode == 2 and "refusing to overwrite" in result.stderr
    assert _snapshot([bad_inputs["good"]]) == before


def test_schema_command_prints_the_document_schema() -> None:
    result = run_cli("schema", "diagnosis")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert "verdict" in schema["properties"]
