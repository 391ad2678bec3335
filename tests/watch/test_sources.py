"""Files followed across rotation and SSH tails (the drain's log sources) feeding watch; the CLI
writing state changes as JSON lines and into the store; loopback by default; clean stops."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.drain.test_ssh_tail import PASSWORD, server  # noqa: F401 (the fixture)
from tests.watch.watch_helpers import NFC_8, metric, scrape, wait_for

from vvolguard.drain.logsource import FileTail, SshTail
from vvolguard.watch.receiver import SyslogEndpoint
from vvolguard.watch.service import WatchConfig, WatchService, run_in_thread

ESXI7_RECORD = (
    "2024-03-14T10:02:11.418Z warning vvold[2100874] [Originator@6876 sub=Default]\n"
    "--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.1.1.10:8084/vasa) "
    "[#outstanding 5/5] - waiting\n"
)


def _nfc_lines(start: int, n: int) -> str:
    return "".join(NFC_8.format(s=i % 60, i=i) + "\n" for i in range(start, start + n))


def _waits(svc: WatchService, host: str) -> float | None:
    return metric(
        scrape(svc.metrics_port),
        "vvolguard_vasa_no_free_connection_waits_total",
        host=host,
        provider="pure-ct0",
    )


def test_a_followed_file_is_read_across_rotation(tmp_path: Path) -> None:
    log = tmp_path / "vvold.log"
    log.write_text("2026-03-14T09:00:00.000Z In(166) VVold[1]: old line, before watch started\n")
    svc = WatchService(WatchConfig(listen=("127.0.0.1", 0), interval=0.05))
    svc.add_source(FileTail(log, "esx05"), "esx05", "file")
    thread = run_in_thread(svc)
    try:
        with log.open("a") as fh:
            fh.write(_nfc_lines(0, 5))
            fh.write(NFC_8.format(s=5, i=5)[:40])  # half a line: read once it is finished
        assert wait_for(lambda: _waits(svc, "esx05") == 5)
        with log.open("a") as fh:
            fh.write(NFC_8.format(s=5, i=5)[40:] + "\n")
        log.rename(tmp_path / "vvold.0.log")  # ESXi rotates: the name now holds a new file
        log.write_text(_nfc_lines(6, 3) + ESXI7_RECORD)
        assert wait_for(lambda: _waits(svc, "esx05") == 10)
        time.sleep(0.3)
        assert _waits(svc, "esx05") == 10
        assert (
            metric(scrape(svc.metrics_port), "vvolguard_ingest_lines_total", transport="file", daemon="vvold")
            == 11
        )
    finally:
        svc.stop()
        thread.join(10)


def test_an_ssh_tail_feeds_watch(server, tmp_path: Path) -> None:  # noqa: F811
    srv, known = server
    log = tmp_path / "vvold.log"
    log.write_text("")
    tail = SshTail("127.0.0.1", port=srv.port, path=str(log), password=PASSWORD, known_hosts=str(known))
    svc = WatchService(WatchConfig(listen=("127.0.0.1", 0), interval=0.05))
    svc.add_source(tail, "esx06", "ssh")
    thread = run_in_thread(svc)
    try:
        assert wait_for(lambda: tail.connects == 1, timeout=20), tail.state
        time.sleep(0.5)  # tail -F settles at the end of the file
        with log.open("a") as fh:
            fh.write(_nfc_lines(0, 4))
        assert wait_for(lambda: _waits(svc, "esx06") == 4, timeout=20)
    finally:
        svc.stop()
        thread.join(10)


def test_defaults_listen_on_loopback_only() -> None:
    assert WatchConfig().listen == ("127.0.0.1", 9796)
    assert SyslogEndpoint.parse("udp://:514").host == "127.0.0.1"
    assert str(SyslogEndpoint.parse("ssl://0.0.0.0")) == "tls://0.0.0.0:1514"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "vvolguard.cli.main", "watch", *args]


def test_cli_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    done = subprocess.run(_cli(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "nothing to watch" in done.stderr
    done = subprocess.run(_cli("--syslog", "tls://127.0.0.1:0"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--tls-cert" in done.stderr
    done = subprocess.run(_cli("--syslog", "http://x:1"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "udp://, tcp:// or tls://" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_json_lines_and_store_then_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "vvold.log"
    log.write_text("")
    store = tmp_path / "store.db"
    proc = subprocess.Popen(
        _cli(
            "--file",
            f"esx08={log}",
            "--listen",
            "127.0.0.1:0",
            "--json-lines",
            "--store",
            str(store),
            "--interval",
            "0.05",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        port = None
        for _ in range(20):
            m = re.search(r"serving metrics on http://127\.0\.0\.1:(\d+)/metrics", proc.stderr.readline())
            if m:
                port = int(m[1])
                break
        assert port
        with log.open("a") as fh:
            fh.write(_nfc_lines(0, 3))  # three waits at 10:10:00-02: saturated
        change = json.loads(proc.stdout.readline())
        assert change["host"] == "esx08" and change["provider"] == "pure-ct0" and change["what"] == "pressure"
        if change["new"] != "saturated":
            change = json.loads(proc.stdout.readline())
        assert change["new"] == "saturated" and change["reasons"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    rows = sqlite3.connect(store).execute("SELECT host, provider, what, new FROM watch_changes").fetchall()
    assert ("esx08", "pure-ct0", "pressure", "saturated") in rows
