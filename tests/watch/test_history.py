"""``vvolguard diagnose --since``: what a real watch run wrote to the store (changes, its own
coverage, hosts heard) read back for a window, in every renderer and the JSON ``watch`` field;
with no run covering the window, or none at all, it says what it cannot conclude instead of
"healthy"."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vvolguard.watch.receiver import SyslogEndpoint
from vvolguard.watch.service import WatchConfig, WatchService, run_in_thread
from vvolguard.watch.store import ChangeStore

from .watch_helpers import wait_for

NFC = (
    "<164>2026-03-14T10:10:0{s}.000Z esxA Vvold[2264325]: [Originator@6876 sub=Default] "
    "VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.21.88.113:8084/vasa) "
    "[#outstanding 5/5] - waiting"
)
CALM = (
    "<166>2026-03-14T10:10:{s:02d}.000Z esxB Vvold[2264111]: [Originator@6876 sub=Default] "
    "VasaOp::EventPollerCB [#{i}]: ===> Issuing 'getEvents' to VP pure-ct0 (#outstanding 0/5) "
    "[session state: Connected]"
)
HOSTD = "<166>2026-03-14T10:10:00.000Z esxC Hostd: info hostd[1] [Originator@6876 sub=Vimsvc] nothing vvold"


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, datetime, datetime]:
    """A watch run that saw esxA saturate, heard esxB's vvold calm throughout and esxC's hostd only;
    returns (store, just before it started, just after it stopped)."""
    store_path = tmp_path_factory.mktemp("history") / "store.db"
    store = ChangeStore(store_path)
    config = WatchConfig(
        syslog=[SyslogEndpoint.parse("udp://127.0.0.1:0")], listen=None, interval=0.05, store_heartbeat=0.1
    )
    service = WatchService(config, store=store)
    start = datetime.now(UTC)
    thread = run_in_thread(service)
    port = service.bound[0].port
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    done = threading.Event()

    def calm() -> None:
        i = 0
        while not done.is_set():
            sock.sendto(CALM.format(s=i % 60, i=i).encode(), ("127.0.0.1", port))
            i += 1
            time.sleep(0.05)

    sender = threading.Thread(target=calm, daemon=True)
    sender.start()
    sock.sendto(HOSTD.encode(), ("127.0.0.1", port))
    time.sleep(0.5)
    for s in range(3):
        sock.sendto(NFC.format(s=s).encode(), ("127.0.0.1", port))
    assert wait_for(lambda: any(c.new == "saturated" for c in service.state.changes))
    time.sleep(0.5)
    done.set()
    sender.join()
    service.stop()
    thread.join(20)
    store.close()
    sock.close()
    return store_path, start, datetime.now(UTC)


def _diagnose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vvolguard.cli.main", "diagnose", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_a_covered_window_names_what_watch_saw_and_only_calls_heard_hosts_calm(watched) -> None:
    store, start, stop = watched
    done = _diagnose("--since", _iso(start), "--now", _iso(stop), "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    watch = doc["watch"]
    assert watch["covers_window"] is True and watch["gaps"] == []
    assert watch["calm_hosts"] == ["esxB"]  # heard from vvold throughout, no pressure
    saw = " ".join(watch["saw"])
    assert "pure-ct0 on esxA: saturated at" in saw and "no-free-connection" in saw
    assert "esxA" not in watch["calm_hosts"] and "esxC" not in watch["calm_hosts"]
    assert any("esxC" in t and "no vvold lines" in t for t in watch["cannot_conclude"])
    assert [c["what"] for c in watch["changes"]].count("pressure") >= 1
    # the files gave nothing: the verdict stays "insufficient evidence", never "healthy"
    assert doc["verdict"]["class"] == "insufficient-evidence"
    kinds = [n["kind"] for n in doc["notes"]]
    assert kinds.count("watch-history") == len(watch["saw"]) + len(watch["cannot_conclude"])


def test_every_renderer_shows_the_watch_notes(watched, tmp_path: Path) -> None:
    store, start, stop = watched
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    args = ["--since", _iso(start), "--now", _iso(stop), "--store", str(store)]
    done = _diagnose(*args, "--markdown", str(md), "--html", str(html))
    assert done.returncode == 0, done.stderr
    for text in (done.stdout, md.read_text(), html.read_text()):
        assert "pure-ct0 on esxA: saturated" in text
        assert "esxB" in text and "cannot tell" in text


def test_a_window_watch_covered_only_in_part_calls_no_host_calm(watched) -> None:
    store, start, stop = watched
    since = start - timedelta(minutes=30)
    done = _diagnose("--since", _iso(since), "--now", _iso(stop), "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    watch = json.loads(done.stdout)["watch"]
    assert watch["covers_window"] is False and len(watch["gaps"]) == 1
    assert watch["calm_hosts"] == []
    assert any("No watch run covered" in t for t in watch["cannot_conclude"])
    assert any("saturated" in t for t in watch["saw"])  # what it did see is still named


def test_no_run_in_the_window_or_no_store_says_so_and_exits_2(watched, tmp_path: Path) -> None:
    store, start, _stop = watched
    before = start - timedelta(hours=5)
    done = _diagnose("--since", "2h", "--now", _iso(before), "--store", str(store), "--json")
    assert done.returncode == 2
    watch = json.loads(done.stdout)["watch"]
    assert watch["runs"] == [] and watch["calm_hosts"] == []
    assert "No vvolguard watch run was listening" in watch["cannot_conclude"][0]
    assert "No vvolguard watch run was listening" in done.stderr

    missing = _diagnose("--since", "2h", "--store", str(tmp_path / "none.db"))
    assert missing.returncode == 2 and "has no watch records" in missing.stderr
    assert not (tmp_path / "none.db").exists()  # reading never creates the user's store
