"""The long-running watch process: listeners, followed files, the parse cadence, outputs.

One asyncio loop receives (syslog listeners) and keeps time; every ``interval`` seconds it hands
the buffered lines to a worker thread to parse and fold (:meth:`Ingest.flush`), so receiving
never waits for parsing; then it re-judges the state and passes the changes on (JSON lines, the
local store, the live table). ``/metrics`` is prometheus-client's own HTTP server in its thread.
:meth:`WatchService.stop` (SIGINT/SIGTERM in the CLI) ends the loop: listeners close, what is
buffered is parsed once more, the store is closed, the HTTP server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from vvolguard.analysis.thresholds import Thresholds
from vvolguard.watch.certs import CertificateWatch
from vvolguard.watch.ingest import Ingest
from vvolguard.watch.metrics import registry_for
from vvolguard.watch.receiver import Receiver, SyslogEndpoint, quiet_tls_errors
from vvolguard.watch.state import Change, WatchState

log = logging.getLogger("vvolguard.watch")


@dataclass
class WatchConfig:
    syslog: list[SyslogEndpoint] = field(default_factory=list)
    listen: tuple[str, int] | None = ("127.0.0.1", 9796)
    tls_cert: str | None = None
    tls_key: str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    interval: float = 0.25
    stale_after: float = 600.0
    expire_after: float = 86_400.0
    max_hosts: int = 20_000
    source_rate: float = 0.0
    max_pending: int = 200_000
    max_message: int = 64 * 1024
    handshake_timeout: float = 10.0
    provider_urls: list[str] = field(default_factory=list)
    #: Also check the provider URLs vvold names in its lines (off in tests: those are not local).
    check_seen_providers: bool = False
    cert_interval: float = 3600.0
    #: Seconds between two coverage heartbeats in the store (when the run was alive, hosts heard).
    store_heartbeat: float = 30.0


class _LineSource:
    """A followed file or SSH tail (``drain.logsource``) with its partial last line."""

    def __init__(self, tail: Any, host: str, transport: str) -> None:
        self.tail = tail
        self.host = host
        self.transport = transport
        self.rest = b""

    def poll(self, ingest: Ingest, budget: int = 8) -> None:
        for _ in range(budget):
            data = self.tail.read()
            if not data:
                return
            data = self.rest + data
            cut = data.rfind(b"\n") + 1
            self.rest = data[cut:]
            if len(self.rest) > ingest.max_message:  # a line with no end: drop it, count it
                ingest.refuse("oversized", self.host, "line over the maximum length")
                self.rest = b""
            if cut:
                ingest.submit_lines(self.host, data[:cut], self.transport)


class WatchService:
    def __init__(
        self,
        config: WatchConfig,
        *,
        on_change: Callable[[Change], None] | None = None,
        json_lines: IO[str] | None = None,
        store: Any = None,
    ) -> None:
        self.config = config
        self.state = WatchState(
            config.thresholds,
            stale_after=config.stale_after,
            expire_after=config.expire_after,
            max_hosts=config.max_hosts,
        )
        self.ingest = Ingest(self.state, max_pending=config.max_pending, max_message=config.max_message)
        self.receiver = Receiver(
            self.ingest,
            tls_cert=config.tls_cert,
            tls_key=config.tls_key,
            source_rate=config.source_rate,
            handshake_timeout=config.handshake_timeout,
        )
        self.certs: CertificateWatch | None = None
        if config.provider_urls or config.check_seen_providers:
            self.certs = CertificateWatch(
                config.provider_urls,
                seen_urls=self._seen_urls if config.check_seen_providers else None,
                interval=config.cert_interval,
            )
        #: ``--vcenter`` pollers (``watch.vcenter.VCenterWatch``), added with :meth:`add_vcenter`
        self.vcenters: list[Any] = []
        #: changes other threads saw (vCenter up/down, failed migrations), emitted by :meth:`tick`
        self._noted: queue.SimpleQueue[Change] = queue.SimpleQueue()
        self.registry = registry_for(self.state, self.ingest, self.certs, self.vcenters)
        self.sources: list[_LineSource] = []
        self.on_change = on_change
        self.json_lines = json_lines
        self.store = store
        self.http: Any = None
        self.metrics_port: int | None = None
        self.bound: list[SyslogEndpoint] = []
        self.ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._beat = 0.0  # wall time of the last store heartbeat
        self._loop: asyncio.AbstractEventLoop | None = None

    def _seen_urls(self) -> list[str]:
        with self.state.lock:
            return [s.url for s in self.state.series.values() if s.url and s.url.startswith("https://")]

    def add_source(self, tail: Any, host: str, transport: str) -> None:
        self.sources.append(_LineSource(tail, host, transport))

    def add_vcenter(self, vcenter: Any) -> None:
        """A ``VCenterWatch``: started with the service, its changes emitted like the others."""
        vcenter.on_change = self._noted.put
        self.vcenters.append(vcenter)

    # -- lifecycle ---------------------------------------------------------------------------

    def start_http(self) -> None:
        if self.config.listen is None:
            return
        from prometheus_client import start_http_server

        addr, port = self.config.listen
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        self.http = server
        self.metrics_port = server.server_port

    def stop(self) -> None:
        """Ask the loop to stop (thread-safe; what a signal handler calls)."""
        loop, ev = self._loop, self._stop
        if loop is not None and ev is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(ev.set)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        loop.set_exception_handler(quiet_tls_errors)
        try:
            for endpoint in self.config.syslog:
                self.bound.append(await self.receiver.start(endpoint))
            self.start_http()
            if self.certs is not None:
                self.certs.start()
            for vc in self.vcenters:
                vc.start()
            self._store("begin", self._sources(), self.state.clock())
            self.ready.set()
            while not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.config.interval)
                await self.tick()
        finally:
            self.ready.set()
            await self.receiver.close()
            for src in self.sources:
                with contextlib.suppress(Exception):
                    src.tail.close()
            await self.tick()  # what arrived before the listeners closed
            if self.certs is not None:
                self.certs.stop()
            for vc in self.vcenters:
                await asyncio.get_running_loop().run_in_executor(None, vc.stop)
            self._heartbeat(force=True)
            self._store("end", self.state.clock())
            if self.http is not None:
                self.http.shutdown()
                self.http.server_close()

    async def tick(self) -> None:
        for src in self.sources:
            try:
                src.poll(self.ingest)
            except Exception as exc:  # a source problem never stops watch
                self.ingest.refuse("source", src.host, repr(exc))
        if self.ingest.pending:
            await asyncio.get_running_loop().run_in_executor(None, self.ingest.flush)
        self.receiver.resume_all()
        self.receiver.sweep()
        for change in self.state.evaluate():
            self._emit(change)
        self.ingest.prune()
        while not self._noted.empty():
            self._emit(self._noted.get_nowait())
        self._heartbeat()

    def _sources(self) -> list[str]:
        """What this run listens to, for the store's coverage record."""
        out = [str(e) for e in self.bound]
        out += [f"{src.transport}:{src.host}" for src in self.sources]
        out += [f"vcenter:{vc.endpoint}" for vc in self.vcenters]
        return out

    def _heartbeat(self, force: bool = False) -> None:
        """Tell the store the run is alive and which hosts it heard since the last time."""
        if self.store is None:
            return
        wall = self.state.clock()
        if not force and wall - self._beat < self.config.store_heartbeat:
            return
        since, self._beat = self._beat, wall
        self._store("heartbeat", wall, self.state.heard_since(since))

    def _store(self, method: str, *args: Any) -> None:
        try:
            getattr(self.store, method, lambda *a: None)(*args)
        except Exception as exc:  # a full disk or a locked file never stops watch
            log.warning("could not write to the store (%s): %r", method, exc)

    def _emit(self, change: Change) -> None:
        record = change.as_dict()
        log.info(
            "%s %s %s: %s -> %s", change.what, change.host, change.provider or "", change.old, change.new
        )
        if self.json_lines is not None:
            try:
                self.json_lines.write(json.dumps(record, sort_keys=True) + "\n")
                self.json_lines.flush()
            except (OSError, ValueError):
                self.json_lines = None  # the reader went away (a closed pipe): stop writing
        if self.store is not None:
            try:
                self.store.record(change)
            except Exception as exc:
                log.warning("could not write the change to the store: %r", exc)
        if self.on_change is not None:
            self.on_change(change)


def run_in_thread(service: WatchService) -> threading.Thread:
    """Run ``service`` on its own loop in a thread (tests, benchmarks); ``service.ready`` is set
    once it listens, ``service.stop()`` ends it."""
    thread = threading.Thread(target=lambda: asyncio.run(service.run()), name="vvolguard-watch", daemon=True)
    thread.start()
    service.ready.wait(30)
    return thread
