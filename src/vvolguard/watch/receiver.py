"""Syslog receivers on asyncio: UDP datagrams, TCP and TLS streams.

* UDP: one datagram is one message (RFC 5426), read in batches of up to ``UDP_BATCH`` per
  readiness; a large receive buffer absorbs bursts.
* TCP/TLS: :class:`~vvolguard.watch.framing.StreamFramer` per connection (newline or octet
  counting). TLS uses the certificate and key the user gives (``ssl://`` in ESXi's loghost);
  a client that does not finish its handshake within ``handshake_timeout`` is dropped by asyncio
  and counted. When the parser falls behind, TCP connections stop being read (back-pressure:
  the sender's kernel buffers), UDP datagrams are dropped and counted.
* Per sending address a token bucket (``source_rate`` messages per second) keeps one flooding
  source from starving the others; what it refuses is counted and logged once per source.

Nothing here raises into the loop: every problem is counted (``Ingest.errors``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from vvolguard.watch.framing import StreamFramer
from vvolguard.watch.ingest import OVERLOAD, OVERSIZED, RATE_LIMITED, TLS, Ingest

UDP_RCVBUF = 8 * 1024 * 1024
#: Datagrams read per readiness of a UDP socket before the loop serves others again.
UDP_BATCH = 512
#: Largest datagram read whole (IPv4's UDP limit); the ingest refuses what is over max_message.
UDP_MAX = 65_535


@dataclass(frozen=True, slots=True)
class SyslogEndpoint:
    """A ``--syslog`` value: ``udp://ADDR:PORT``, ``tcp://...``, ``tls://...`` (or ``ssl://``)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> SyslogEndpoint:
        parts = urlsplit(text if "://" in text else f"udp://{text}")
        scheme = {"ssl": "tls"}.get(parts.scheme.lower(), parts.scheme.lower())
        if scheme not in ("udp", "tcp", "tls"):
            raise ValueError(f"{text!r}: the scheme must be udp://, tcp:// or tls:// (ssl://)")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{text!r}: the port is not a number from 0 to 65535") from None
        host = parts.hostname or "127.0.0.1"
        if port is None:
            port = 1514 if scheme == "tls" else 514  # ESXi's defaults for ssl:// and udp/tcp
        return cls(scheme, host, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


class _Bucket:
    """Token bucket per source address."""

    __slots__ = ("rate", "stamp", "tokens")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()

    def take(self, n: int) -> int:
        """How many of ``n`` messages may pass now."""
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        allowed = min(n, int(self.tokens))
        self.tokens -= allowed
        return allowed


class Limiter:
    """Per-source rate limits, bounded in the number of sources remembered."""

    def __init__(self, rate: float, max_sources: int = 100_000) -> None:
        self.rate = rate
        self.max_sources = max_sources
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, source: str, n: int) -> int:
        if self.rate <= 0:
            return n
        b = self._buckets.get(source)
        if b is None:
            if len(self._buckets) >= self.max_sources:
                self._buckets.clear()  # forget them all rather than grow: a fresh bucket is full
            b = self._buckets[source] = _Bucket(self.rate)
        return b.take(n)


class _UdpReader:
    """One UDP socket, read in batches: each time the socket is readable, up to
    :data:`UDP_BATCH` datagrams are taken in one go and handed on per sender, so the per-message
    cost is one ``recvfrom`` (asyncio's datagram transport makes an event-loop round per
    datagram, which at 100,000 datagrams a second is most of the work)."""

    def __init__(self, sock: socket.socket, ingest: Ingest, limiter: Limiter) -> None:
        self.sock = sock
        self.ingest = ingest
        self.limiter = limiter
        self.loop = asyncio.get_running_loop()
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._ready)

    def _ready(self) -> None:
        by_peer: dict[str, list[bytes]] = {}
        recv = self.sock.recvfrom
        for _ in range(UDP_BATCH):
            try:
                data, addr = recv(UDP_MAX)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # e.g. an ICMP error queued on the socket
                self.ingest.errors["socket"] += 1
                break
            peer = addr[0]
            batch = by_peer.get(peer)
            if batch is None:
                by_peer[peer] = [data.rstrip(b"\r\n")]
            else:
                batch.append(data.rstrip(b"\r\n"))
        for peer, messages in by_peer.items():
            try:
                self._take(peer, messages)
            except Exception as exc:  # a receiver never stops for one datagram
                self.ingest.refuse("internal", peer, repr(exc))

    def _take(self, peer: str, messages: list[bytes]) -> None:
        if self.ingest.pending >= self.ingest.max_pending:
            self.ingest.refuse(OVERLOAD, peer, "parser behind; datagram dropped", n=len(messages))
            return
        allowed = self.limiter.allow(peer, len(messages))
        if allowed < len(messages):
            self.ingest.refuse(
                RATE_LIMITED, peer, f"over {self.limiter.rate:g} messages/s", n=len(messages) - allowed
            )
            messages = messages[:allowed]
        if messages:
            self.ingest.submit(messages, peer, "udp")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class _Stream(asyncio.Protocol):
    def __init__(self, receiver: Receiver, transport_name: str) -> None:
        self.receiver = receiver
        self.ingest = receiver.ingest
        self.name = transport_name
        self.framer = StreamFramer(self.ingest.max_message)
        self.peer = "?"
        self.transport: asyncio.Transport | None = None
        self.paused = False
        self.accepted = time.monotonic()
        if transport_name == "tls":
            receiver.handshaking.add(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else "?"
        self.receiver.handshaking.discard(self)
        self.receiver.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.receiver.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            before = self.framer.oversized
            messages = self.framer.feed(data)
            if self.framer.oversized > before:
                self.ingest.refuse(
                    OVERSIZED, self.peer, "message over the maximum length", n=self.framer.oversized - before
                )
            if not messages:
                return
            allowed = self.receiver.limiter.allow(self.peer, len(messages))
            if allowed < len(messages):
                self.ingest.refuse(
                    RATE_LIMITED,
                    self.peer,
                    f"over {self.receiver.limiter.rate:g} messages/s",
                    n=len(messages) - allowed,
                )
                messages = messages[:allowed]
            self.ingest.submit(messages, self.peer, self.name)
            if self.ingest.pending >= self.ingest.max_pending // 2 and self.transport is not None:
                self.transport.pause_reading()  # back-pressure until the parser catches up
                self.paused = True
        except Exception as exc:
            self.ingest.refuse("internal", self.peer, repr(exc))

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.transport.is_closing():
            self.paused = False
            self.transport.resume_reading()


class Receiver:
    """All syslog listeners of one watch process."""

    def __init__(
        self,
        ingest: Ingest,
        *,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        source_rate: float = 0.0,
        handshake_timeout: float = 10.0,
        idle_timeout: float = 0.0,
    ) -> None:
        self.ingest = ingest
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.limiter = Limiter(source_rate)
        self.handshake_timeout = handshake_timeout
        self.connections: set[_Stream] = set()
        #: TLS connections accepted whose handshake has not finished (asyncio calls
        #: ``connection_made`` only after it): :meth:`sweep` counts the ones that never finish.
        self.handshaking: set[_Stream] = set()
        self.servers: list[asyncio.AbstractServer] = []
        self.udp: list[_UdpReader] = []
        self.bound: list[SyslogEndpoint] = []

    def _tls_context(self) -> ssl.SSLContext:
        if not (self.tls_cert and self.tls_key):
            raise ValueError("a tls:// syslog listener needs --tls-cert FILE and --tls-key FILE")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.tls_cert, self.tls_key)
        return ctx

    async def start(self, endpoint: SyslogEndpoint) -> SyslogEndpoint:
        """Listen on ``endpoint``; returns it with the port actually bound (for port 0)."""
        loop = asyncio.get_running_loop()
        if endpoint.scheme == "udp":
            family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
            sock.bind((endpoint.host, endpoint.port))
            self.udp.append(_UdpReader(sock, self.ingest, self.limiter))
            port = sock.getsockname()[1]
        else:
            ctx = self._tls_context() if endpoint.scheme == "tls" else None
            name = endpoint.scheme
            server = await loop.create_server(
                lambda: _Stream(self, name),
                endpoint.host,
                endpoint.port,
                ssl=ctx,
                ssl_handshake_timeout=self.handshake_timeout if ctx else None,
                reuse_address=True,
            )
            self.servers.append(server)
            port = server.sockets[0].getsockname()[1]
        bound = SyslogEndpoint(endpoint.scheme, endpoint.host, port)
        self.bound.append(bound)
        return bound

    def sweep(self) -> None:
        """Count TLS clients that did not finish their handshake in time (asyncio has closed
        them by then) and forget them."""
        limit = time.monotonic() - self.handshake_timeout - 1.0
        for conn in [c for c in self.handshaking if c.accepted < limit]:
            self.handshaking.discard(conn)
            self.ingest.refuse(TLS, "a TLS client", "handshake not finished or failed")

    def resume_all(self) -> None:
        """The parser caught up: read paused connections again."""
        for conn in list(self.connections):
            conn.resume()

    async def close(self) -> None:
        for t in self.udp:
            t.close()
        for server in self.servers:
            server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)


def quiet_tls_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Loop exception handler: a client's failed or abandoned TLS handshake is the client's
    problem and already counted by :meth:`Receiver.sweep`; asyncio would log a traceback."""
    exc = context.get("exception")
    message = str(context.get("message", ""))
    if isinstance(exc, (ssl.SSLError, ConnectionError, TimeoutError)) or "SSL" in message:
        return
    loop.default_exception_handler(context)
