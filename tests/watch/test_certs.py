"""Provider certificates read by a real TLS handshake on loopback: days to expiry, whether the
certificate names the URL's host, and an unreachable provider counted, not fatal."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

from cryptography import x509
from tests.watch.watch_helpers import make_cert

from vvolguard.watch.certs import CertificateWatch


def _cert(tmp: Path, name: str, days: int, san: x509.GeneralName) -> ssl.SSLContext:
    cert, key = make_cert(tmp, name, days=days, issued_days_ago=300, sans=[san])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def _serve(ctx: ssl.SSLContext) -> tuple[socket.socket, int]:
    """A TLS server on 127.0.0.1 that completes handshakes until its socket is closed."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()

    def loop() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    threading.Thread(target=loop, daemon=True).start()
    return sock, sock.getsockname()[1]


def _samples(watch: CertificateWatch) -> dict[tuple[str, str], float]:
    out = {}
    for family in watch.collect():
        for sample in family.samples:
            out[(sample.name, sample.labels["url"])] = sample.value
    return out


def test_expiry_days_and_host_names_from_a_real_handshake(tmp_path: Path) -> None:
    import ipaddress

    expiring, port1 = _serve(_cert(tmp_path, "vp-a", 20, x509.DNSName("vasa.example.lab")))
    fine, port2 = _serve(_cert(tmp_path, "vp-b", 400, x509.IPAddress(ipaddress.ip_address("127.0.0.1"))))
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    urls = [
        f"https://127.0.0.1:{port1}/vasa/version.xml",
        f"https://127.0.0.1:{port2}/vasa",
        f"https://127.0.0.1:{dead_port}/vasa",
    ]
    watch = CertificateWatch(urls, timeout=5)
    try:
        watch.check_all()
        got = _samples(watch)
    finally:
        expiring.close()
        fine.close()
    days_a = got[("vvolguard_provider_certificate_expiry_days", urls[0])]
    assert 19 < days_a <= 20
    assert got[("vvolguard_provider_certificate_names_host", urls[0])] == 0  # names vasa.example.lab
    assert 399 < got[("vvolguard_provider_certificate_expiry_days", urls[1])] <= 400
    assert got[("vvolguard_provider_certificate_names_host", urls[1])] == 1
    assert ("vvolguard_provider_certificate_expiry_days", urls[2]) not in got
    assert got[("vvolguard_provider_certificate_check_errors_total", urls[2])] == 1
