"""``vvolguard lab`` as a user runs it: one JSON line once ready, a working vCenter behind it, no
password in any file it writes or on any command line, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
from lab_fixture import connect, disconnect

from vvolguard.lab import LabInfo


def test_lab_json_line_serves_and_stops_cleanly(simulator_built: None) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vvolguard.cli.main", "lab", "--scenario", "healthy", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=300)
        assert lines and lines[0].strip(), proc.stderr.read() if proc.poll() is not None else "no line"
        data = json.loads(lines[0])
        assert set(data) >= {"url", "user", "password", "ca_file", "ssh_config", "hosts"}
        folder = Path(data["ca_file"]).parent
        lab = LabInfo(
            **{k: data[k] for k in ("url", "user", "password", "ca_file", "ssh_config", "hosts")},
            scenario="healthy",
            expected_class="healthy",
            folder=str(folder),
            sms_url=data["sms_url"],
        )
        si = connect(lab)
        assert si.RetrieveContent().about.apiType == "VirtualCenter"
        disconnect(si)

        secret = data["password"].encode()
        written = [p for p in folder.rglob("*") if p.is_file()]
        assert written and not [p for p in written if secret in p.read_bytes()]
        for child in psutil.Process(proc.pid).children(recursive=True):
            assert data["password"] not in " ".join(child.cmdline())

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not folder.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_an_unknown_privilege_is_a_clear_error(simulator_built: None) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vvolguard.cli.main", "lab", "--missing-privilege", "Nope.Never"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "unknown privilege" in done.stderr and "Traceback" not in done.stderr
