"""Provider certificates by TLS handshake: days to expiry and whether the certificate names the
host in the provider's URL (``--provider-url``, and every URL vvold names in its lines).

The handshake reads the certificate without trusting it (an expired or self-signed provider
certificate is exactly what must be measured); the parse, the names and the date arithmetic are
the ones ``diagnose`` uses for certificate files (``evidence.certificates``,
``analysis.certificates``). Checks run in their own thread, ``interval`` apart, each bounded by
``timeout``, and the number of URLs is capped.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from vvolguard.analysis.certificates import certificate_names, days_between, name_matches, url_host
from vvolguard.records import Citation

MAX_URLS = 1000


@dataclass
class CertResult:
    url: str
    host: str
    days_left: float | None = None
    names_host: bool | None = None
    errors: int = 0
    last_error: str | None = None


def fetch_certificate(url: str, timeout: float = 10.0) -> bytes:
    """The DER certificate the server at ``url`` presents (no trust decision is made)."""
    parts = urlsplit(url if "//" in url else "//" + url)
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    port = parts.port or 443
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # measure, not trust: an expired certificate must be read
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as conn,
    ):
        der = conn.getpeercert(binary_form=True)
    if not der:
        raise ValueError("the server sent no certificate")
    return der


def check(url: str, timeout: float = 10.0, now: datetime | None = None) -> CertResult:
    from cryptography import x509

    from vvolguard.evidence.certificates import certificate_record

    host = url_host(url) or url
    result = CertResult(url, host)
    der = fetch_certificate(url, timeout)
    record = certificate_record(x509.load_der_x509_certificate(der), Citation(url, None, "TLS handshake"))
    result.days_left = days_between(record.not_after, now or datetime.now(UTC))
    result.names_host = any(name_matches(n, host) for n in certificate_names(record))
    return result


class CertificateWatch:
    """The periodic checker and its metrics (a prometheus-client collector)."""

    def __init__(
        self,
        urls: Iterable[str] = (),
        *,
        seen_urls: Callable[[], Iterable[str]] | None = None,
        interval: float = 3600.0,
        timeout: float = 10.0,
    ) -> None:
        self.given = list(urls)
        self.seen_urls = seen_urls
        self.interval = interval
        self.timeout = timeout
        self.results: dict[str, CertResult] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def urls(self) -> list[str]:
        out = list(dict.fromkeys(self.given))
        if self.seen_urls is not None:
            out += [u for u in dict.fromkeys(self.seen_urls()) if u not in out]
        return out[:MAX_URLS]

    def check_all(self) -> None:
        for url in self.urls():
            if self._stop.is_set():
                return
            try:
                result = check(url, self.timeout)
            except Exception as exc:  # unreachable, not TLS, no certificate: counted, kept going
                with self.lock:
                    old = self.results.get(url) or CertResult(url, url_host(url) or url)
                    old.errors += 1
                    old.last_error = type(exc).__name__
                    self.results[url] = old
                continue
            with self.lock:
                previous = self.results.get(url)
                result.errors = previous.errors if previous else 0
                self.results[url] = result

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self.check_all()
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=loop, name="vvolguard-watch-certs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._thread.join(self.timeout + 1)

    def collect(self) -> Iterator[Any]:
        days = GaugeMetricFamily(
            "vvolguard_provider_certificate_expiry_days",
            "Days until the VASA provider's TLS certificate expires (negative: expired).",
            labels=["url", "host"],
        )
        names = GaugeMetricFamily(
            "vvolguard_provider_certificate_names_host",
            "1 when the provider certificate names the host in its URL (SAN or CN).",
            labels=["url", "host"],
        )
        errors = CounterMetricFamily(
            "vvolguard_provider_certificate_check_errors",
            "TLS handshakes to the provider URL that failed (unreachable, not TLS, no certificate).",
            labels=["url", "host"],
        )
        with self.lock:
            for r in self.results.values():
                labels = [r.url, r.host]
                if r.days_left is not None:
                    days.add_metric(labels, r.days_left)
                if r.names_host is not None:
                    names.add_metric(labels, 1 if r.names_host else 0)
                errors.add_metric(labels, r.errors)
        yield from (days, names, errors)
