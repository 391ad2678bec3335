"""``vvolguard watch --ssh-config`` against the lab: it follows a host's vvold.log over the lab's
SSH endpoint (host key pinned by the lab's ssh_config) and counts what is appended, exactly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HOST = "esx01.vvol.lab"


def _wait_line(n: int) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    return (
        f"{stamp}.{n:03d}Z warning vvold[2099154] [Originator@6876 sub=Default OpId=w{n}] "
        "VasaSession::GetFreeConn: No free connections to VP pure-ct0 "
        "(url: https://10.21.88.113:8084/vasa) [#outstanding 5/5] - waiting\n"
    )


def _waits(port: int) -> float | None:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(
        r'^vvolguard_vasa_no_free_connection_waits_total\{[^}]*host="' + re.escape(HOST) + r'"[^}]*\} (\S+)$',
        body,
        re.M,
    )
    return float(m[1]) if m else None


def test_watch_follows_a_hosts_vvold_log_through_the_labs_ssh_config(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab = lab_factory("healthy")
    log = Path(lab.host_root(HOST)) / "var/run/log/vvold.log"
    cmd = [sys.executable, "-m", "vvolguard.cli.main", "watch", "--ssh-config", lab.ssh_config, "--ssh", HOST]
    cmd += [
        "--listen",
        "127.0.0.1:0",
        "--no-store",
        "--no-table",
        "--no-check-seen-providers",
        "--interval",
        "0.1",
    ]
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        port = 0
        end = time.monotonic() + 60
        while time.monotonic() < end and not port:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            m = re.search(r"serving metrics on http://[\d.]+:(\d+)/metrics", line)
            port = int(m[1]) if m else 0
        assert port, "".join(seen)[-2000:]
        threading.Thread(target=lambda: seen.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
        # the tail starts at the end of the file (tail -n 0 -F): write one line a second until
        # watch counts one, then exactly three more, which must count exactly three
        end = time.monotonic() + 60
        first = None
        n = 0
        while time.monotonic() < end and not first:
            with log.open("a", encoding="utf-8") as f:
                f.write(_wait_line(n))
            n += 1
            time.sleep(1)
            first = _waits(port)
        assert first, "".join(seen)[-2000:]
        time.sleep(1)
        first = _waits(port)
        with log.open("a", encoding="utf-8") as f:
            for _ in range(3):
                f.write(_wait_line(n))
                n += 1
        end = time.monotonic() + 30
        while time.monotonic() < end and _waits(port) != first + 3:
            time.sleep(0.2)
        assert _waits(port) == first + 3, "".join(seen)[-2000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    assert rc == 0
    out = "".join(seen)
    assert "Traceback" not in out and lab.password not in out


def test_watch_without_a_privilege_counts_it_logs_it_once_and_keeps_the_rest(
    lab_factory: Any, caplog: Any
) -> None:
    """A watch account without System.View against the lab: the event collector (which needs it)
    answers NoPermission at each poll, counted as ``permission``, said once in the log (it was
    said again when the first poll came up), never taken for vCenter being down; the recent
    tasks (migrations in flight) and the provider list (StorageViews.View) are still read."""
    import logging

    from vvolguard.watch.vcenter import VCenterWatch

    lab = lab_factory("healthy", missing_privileges=["System.View"])
    caplog.set_level(logging.WARNING, logger="vvolguard.watch")
    vc = VCenterWatch(lab.url, lab.limited_user, lab.limited_password, ca_file=lab.ca_file, interval=0.1)
    try:
        for _ in range(3):
            vc.poll_once()
        assert vc.view.errors["permission"] == 3  # the event collector, at each of three polls
        assert not vc.view.errors["login"] and not vc.view.errors["tls"] and not vc.view.errors["unreachable"]
        assert vc.view.up and vc.view.hosts  # the tasks still answer
        said = [r.getMessage() for r in caplog.records if ": permission: " in r.getMessage()]
        assert len(said) == 1, said
        assert "System.View" in said[0] or "denied" in said[0], said
        assert vc.view.providers, "the provider list needs StorageViews.View only"
        logged = caplog.text + repr(vc.view)
        assert lab.limited_password not in logged and lab.password not in logged
    finally:
        vc.stop()
