"""Real sockets on 127.0.0.1: exact counters over UDP, TCP (both framings) and TLS, and input
that must be counted without stopping the receiver."""

from __future__ import annotations

import socket
import ssl
import time

import pytest
from tests.watch.watch_helpers import NFC_8, make_cert, metric, scrape, wait_for

from vvolguard.watch import replay

N = 257  # an odd number that no batch size divides


def _nfc_messages(n: int, host: str, fmt: str) -> list[str]:
    out = []
    for i in range(n):
        out += replay.messages([NFC_8.format(s=i % 60, i=i)], host, fmt)
    return out


def _waits(port: int, host: str) -> float | None:
    return metric(
        scrape(port), "vvolguard_vasa_no_free_connection_waits_total", host=host, provider="pure-ct0"
    )


def test_udp_counts_exactly(start_watch) -> None:
    svc = start_watch("udp://127.0.0.1:0")
    udp = svc.bound[0]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i, m in enumerate(_nfc_messages(N, "esx-udp", "3164")):
        sock.sendto(m.encode(), (udp.host, udp.port))
        if i % 50 == 49:
            time.sleep(0.01)  # loopback UDP has no flow control: do not outrun the socket buffer
    assert wait_for(lambda: _waits(svc.metrics_port, "esx-udp") == N)
    time.sleep(0.3)
    assert _waits(svc.metrics_port, "esx-udp") == N  # and not more
    text = scrape(svc.metrics_port)
    assert metric(text, "vvolguard_ingest_lines_total", transport="udp", daemon="vvold") == N


@pytest.mark.parametrize("octet", [True, False])
@pytest.mark.parametrize("fmt", ["3164", "5424"])
def test_tcp_counts_exactly(start_watch, octet: bool, fmt: str) -> None:
    svc = start_watch("tcp://127.0.0.1:0")
    tcp = svc.bound[0]
    payload = b"".join(replay.frame(m, octet=octet) for m in _nfc_messages(N, "esx-tcp", fmt))
    with socket.create_connection((tcp.host, tcp.port)) as conn:
        for i in range(0, len(payload), 1000):  # arbitrary cuts: frames straddle reads
            conn.sendall(payload[i : i + 1000])
    assert wait_for(lambda: _waits(svc.metrics_port, "esx-tcp") == N)
    time.sleep(0.3)
    assert _waits(svc.metrics_port, "esx-tcp") == N


def test_tls_with_a_real_certificate_counts_and_a_silent_client_is_dropped(start_watch, tmp_path) -> None:
    cert, key = make_cert(tmp_path)
    svc = start_watch("tls://127.0.0.1:0", tls_cert=str(cert), tls_key=str(key), handshake_timeout=0.5)
    tls = svc.bound[0]
    # a client that connects and never says a word: dropped after the handshake timeout, counted
    idle = socket.create_connection((tls.host, tls.port))
    ctx = ssl.create_default_context(cafile=str(cert))
    with (
        socket.create_connection((tls.host, tls.port)) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        for m in _nfc_messages(N, "esx-tls", "5424"):
            conn.sendall(replay.frame(m, octet=True))
        # stay connected until counted: closing a TLS 1.3 socket with the server's session
        # tickets unread sends a reset, and the server's kernel discards what it had not read
        assert wait_for(lambda: _waits(svc.metrics_port, "esx-tls") == N)
    assert wait_for(
        lambda: metric(scrape(svc.metrics_port), "vvolguard_ingest_errors_total", reason="tls-handshake") == 1
    )
    idle.settimeout(5)
    assert idle.recv(10) == b""  # the server closed it
    idle.close()


def test_garbage_is_counted_and_the_receiver_keeps_working(start_watch) -> None:
    svc = start_watch("udp://127.0.0.1:0", "tcp://127.0.0.1:0", max_message=2048)
    udp, tcp = svc.bound
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.sendto(b"\x00\xff\xfe binary \x00", (udp.host, udp.port))
    sock.sendto(b"not a syslog message at all", (udp.host, udp.port))
    sock.sendto(b"<166>2026-03-14T10:00:00Z h Vvold[1]: " + b"x" * 5000, (udp.host, udp.port))
    with socket.create_connection((tcp.host, tcp.port)) as conn:
        conn.sendall(b"\xff\xfe\xfd\xfc" * 100 + b"\n" + b"99999 " + b"y" * 3000)
    with socket.create_connection((tcp.host, tcp.port)) as conn:
        conn.sendall(replay.frame(_nfc_messages(1, "esx-ok", "3164")[0], octet=False))
    for m in _nfc_messages(3, "esx-ok", "3164"):
        sock.sendto(m.encode(), (udp.host, udp.port))
    assert wait_for(lambda: _waits(svc.metrics_port, "esx-ok") == 4)
    text = scrape(svc.metrics_port)
    assert metric(text, "vvolguard_ingest_errors_total", reason="binary") == 2
    assert metric(text, "vvolguard_ingest_errors_total", reason="malformed") == 1
    assert metric(text, "vvolguard_ingest_errors_total", reason="oversized") == 2


def test_a_flooding_source_is_rate_limited_and_counted(start_watch, caplog) -> None:
    svc = start_watch("tcp://127.0.0.1:0", source_rate=100)
    tcp = svc.bound[0]
    payload = b"".join(replay.frame(m, octet=True) for m in _nfc_messages(1000, "esx-flood", "3164"))
    started = time.monotonic()
    with socket.create_connection((tcp.host, tcp.port)) as conn:
        conn.sendall(payload)
    assert wait_for(
        lambda: (
            (metric(scrape(svc.metrics_port), "vvolguard_ingest_errors_total", reason="rate-limited") or 0)
            > 0
        )
    )

    def both() -> tuple[float, float]:
        text = scrape(svc.metrics_port)
        limited = metric(text, "vvolguard_ingest_errors_total", reason="rate-limited") or 0
        counted = metric(text, "vvolguard_vasa_no_free_connection_waits_total", host="esx-flood") or 0
        return limited, counted

    assert wait_for(lambda: sum(both()) == 1000), both()  # every message: counted or refused
    limited, counted = both()
    assert limited > 0 and counted <= 100 + 100 * (time.monotonic() - started)  # bucket: 100, +100/s
    text = scrape(svc.metrics_port)
    assert metric(text, "vvolguard_syslog_dropped_total") == limited
    logged = [r for r in caplog.records if "rate-limited" in r.getMessage()]
    assert len(logged) == 1  # once per source
