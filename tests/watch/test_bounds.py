"""Memory stays bounded whatever arrives: silent hosts go stale and are forgotten (state, the
per-host parse buffers and /metrics alike), a flood of host names is capped, and the per-series
windows never hold more than their caps."""

from __future__ import annotations

import socket

from tests.watch.watch_helpers import NFC_8, metric, scrape, wait_for

from vvolguard.analysis.thresholds import Thresholds
from vvolguard.watch.ingest import Ingest
from vvolguard.watch.state import CREATES_CAP, WINDOW_CAP, WatchState


def _nfc(host: str, i: int) -> bytes:
    line = NFC_8.format(s=i % 60, i=i)
    ts, _level, rest = line.split(" ", 2)
    return f"<164>{ts} {host} {rest}".encode()


def test_a_silent_host_goes_stale_then_is_forgotten_everywhere(start_watch) -> None:
    svc = start_watch("udp://127.0.0.1:0", stale_after=0.5, expire_after=1.5)
    port = svc.metrics_port
    udp = svc.bound[0].port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(3):
            s.sendto(_nfc("esx-gone", i), ("127.0.0.1", udp))
    assert wait_for(
        lambda: metric(scrape(port), "vvolguard_vasa_no_free_connection_waits_total", host="esx-gone") == 3
    )
    assert wait_for(lambda: metric(scrape(port), "vvolguard_host_stale", host="esx-gone") == 1, timeout=5)
    assert wait_for(lambda: metric(scrape(port), "vvolguard_host_stale", host="esx-gone") is None, timeout=5)
    text = scrape(port)
    assert 'host="esx-gone"' not in text  # every series of it left /metrics
    assert metric(text, "vvolguard_hosts_forgotten_total", reason="expired") == 1
    assert "esx-gone" not in svc.state.hosts and not svc.state.series
    assert wait_for(lambda: "esx-gone" not in svc.ingest._vvold)  # nor its header context


def test_a_flood_of_host_names_is_capped_longest_silent_first() -> None:
    clock = [1000.0]
    state = WatchState(Thresholds(), max_hosts=100, clock=lambda: clock[0])
    ingest = Ingest(state)
    for i in range(300):
        clock[0] += 1
        ingest.submit([_nfc(f"spoof-{i:03d}", i)], "10.0.0.9", "udp")
        ingest.flush()
    state.evaluate()
    assert len(state.hosts) == 100 and state.forgotten == {"evicted": 200}
    assert min(state.hosts) == "spoof-200"  # the 100 heard last are kept
    assert {h for h, _vp in state.series} <= set(state.hosts)
    ingest.flush()
    assert set(ingest._vvold) <= set(state.hosts)


def test_windows_hold_at_most_their_caps() -> None:
    state = WatchState(Thresholds())
    ingest = Ingest(state)
    lines = [_nfc("esx-busy", i) for i in range(WINDOW_CAP + 500)]
    ingest.submit(lines, "10.0.0.9", "udp")
    ingest.flush()
    s = state.series[("esx-busy", "pure-ct0")]
    assert s.no_free_conn == WINDOW_CAP + 500  # counters stay exact
    assert len(s.pressure_ts) == WINDOW_CAP  # the window keeps the latest only
    for i in range(CREATES_CAP + 10):
        state._create(s, 1000.0 + i, float(i))
    assert len(s.creates) == CREATES_CAP and s.creates.values is not None
    assert s.creates.values[0] == 10.0 and s.creates[0] == 1010.0  # oldest dropped, pairs kept
