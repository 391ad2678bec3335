"""``vvolguard lab`` as a user runs it: one JSON line once ready, a working vCenter behind it, no
password in any file it writes or on any command line, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psutil
from lab_fixture import connect, disconnect

from vvolguard.lab import LabInfo


def _cli(*args: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vvolguard.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "VVOLGUARD_PASSWORD": password},
    )


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_lab_json_line_serves_collect_and_validate_and_stops_cleanly(
    simulator_built: None, tmp_path: Path
) -> None:
    """The user's path end to end, every part a process: ``vvolguard lab --json``, then
    ``collect`` and ``validate --dry-run`` with only what the JSON line gives (``--ca-file`` for
    TLS, ``--ssh-config`` for the hosts' vvold.log), then SIGTERM: exit 0, no child left, no port
    still listening, its folder gone."""
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

        live = ["--vcenter", data["url"], "--user", data["user"], "--ca-file", data["ca_file"]]
        live += ["--ssh-config", data["ssh_config"]]
        live += [
            a for url, addr in data["providers"].items() for a in ("--provider-address", f"{url}={addr}")
        ]
        hosts = [a for h in data["hosts"] for a in ("--host", h)]
        case = tmp_path / "case"
        collected = _cli(
            "collect", *live, *hosts, "--since", "2h", "-o", str(case), password=data["password"]
        )
        assert collected.returncode == 0, collected.stderr[-2000:]
        manifest = json.loads((case / "case.json").read_text())
        assert manifest["complete"] is True and manifest["missing"] == []
        for host in data["hosts"]:  # each host's vvold.log came over its SSH endpoint
            assert (case / "hosts" / host / "var" / "run" / "log" / "vvold.log").stat().st_size > 0
        diagnosed = _cli("diagnose", "--json", str(case), password="")
        assert json.loads(diagnosed.stdout)["verdict"]["class"] == "healthy", diagnosed.stderr[-2000:]

        validated = _cli(
            "validate", *live, "--host", data["hosts"][0], "--dry-run", "--watch", "2", "--json",
            "-o", str(tmp_path / "validate"), "--store", str(tmp_path / "store.db"),
            password=data["password"],
        )  # fmt: skip
        doc = json.loads(validated.stdout)
        statuses = [layer["status"] for layer in doc["layers"]]
        assert statuses == ["pass", "pass", "pass", "skipped", "skipped"], validated.stderr[-2000:]
        assert validated.returncode == 1  # --dry-run: not every layer ran, so not "passed"
        for done in (collected, diagnosed, validated):
            assert "Traceback" not in done.stderr and data["password"] not in done.stdout + done.stderr

        secret = data["password"].encode()
        written = [p for p in folder.rglob("*") if p.is_file()]
        assert written and not [p for p in written if secret in p.read_bytes()]
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children  # the Go simulator
        for child in children:
            assert data["password"] not in " ".join(child.cmdline())
        config = Path(data["ssh_config"]).read_text()
        ports = [
            lab.port,
            *(int(line.split()[1]) for line in config.splitlines() if line.strip().startswith("Port ")),
        ]
        ports += [int(addr.rsplit(":", 1)[1]) for addr in data["providers"].values()]
        assert len(ports) == 2 + len(data["hosts"]) and all(_listening(p) for p in ports)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not folder.exists()
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, [c.pid for c in alive]
        assert not [p for p in ports if _listening(p)]
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
