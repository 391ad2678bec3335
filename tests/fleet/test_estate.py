"""``simulate estate``: the layout a syslog server keeps, the truth file, and same seed, same bytes."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from vvolguard.analysis.model import FailureClass
from vvolguard.sim.estate import TRUTH_FILE, simulate_estate


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_and_truth(estate: Path, truth: dict[str, Any]) -> None:
    host = estate / truth["hosts"][0]
    assert (
        (host / "vvold.log").is_file()
        and (host / "hostd.log").is_file()
        and (host / "vmkernel.log").is_file()
    )
    for name in ("get-task.json", "get-vievent.json", "get-vasaprovider.json"):
        assert (estate / "vcenter" / name).is_file()
    line = (host / "vvold.log").read_text().splitlines()[0]
    # as a syslog server stores a forwarded ESXi 7 line: time, sending host, tag, the log line
    assert line.split()[1] == host.name and line.split()[2] == "Vvold:"
    classes = {c.value for c in FailureClass}
    for incident in truth["incidents"]:
        assert set(incident) >= {"host", "provider", "class", "start", "end"}
        assert incident["class"] in classes
        assert incident["start"] <= incident["end"]
    assert set(truth["quiet_hosts"]) <= set(truth["hosts"])
    assert len(truth["providers"]) == 3


def test_days_rotate_as_logrotate_dateext(tmp_path: Path) -> None:
    simulate_estate(tmp_path, hosts=8, days=2, seed=2, poll_s=300.0, with_knee=False)
    host = tmp_path / "esx001.vvol.lab"
    rotated = host / "vvold.log-20260301.gz"
    stamped = [ln[:11] for ln in gzip.decompress(rotated.read_bytes()).decode().splitlines() if ln[:1] == "2"]
    assert set(stamped) == {"2026-03-01T"}
    live = [ln[:11] for ln in (host / "vvold.log").read_text().splitlines() if ln[:1] == "2"]
    assert set(live) == {"2026-03-02T"}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        simulate_estate(tmp_path / name, hosts=8, days=1, seed=11, poll_s=300.0, with_knee=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    simulate_estate(tmp_path / "c", hosts=8, days=1, seed=12, poll_s=300.0, with_knee=False)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_cli_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vvolguard.cli.main",
            "simulate",
            "estate",
            "--hosts",
            "8",
            "--days",
            "1",
            "-o",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "not an empty folder" in proc.stderr
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == '["something"]'
    assert TRUTH_FILE not in proc.stdout
