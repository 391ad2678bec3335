"""From received bytes to folded state: decode, read the syslog header, rebuild the ESXi log
line, batch per host, parse with the ``diagnose`` vvold reader, fold.

Receivers call :meth:`Ingest.submit` (syslog messages) or :meth:`Ingest.submit_lines` (lines of a
followed file) from the event loop: each message's header is read and its log line rebuilt (a few
microseconds), and a received batch is appended to per-host buffers under one lock round. (Doing
the header parse in polars at flush time instead was tried and measured: more CPU per line and
about twice the memory, so it stays here.)
:meth:`Ingest.flush` (run every few hundred milliseconds, off the event loop) parses everything
buffered at once: one block for all hosts, each host's lines preceded by its last header line so
that ``-->`` continuations find their record across batches, exactly as the file reader does
across blocks. Buffers are bounded: past ``max_pending`` lines new ones are dropped and counted.

Problems never raise: undecodable, binary, malformed or oversized input is counted per reason
and logged once per source.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from vvolguard.evidence import logline as ll
from vvolguard.evidence.hostlogs import RULES as HOST_RULES
from vvolguard.evidence.vvold_block import Block, parse_block
from vvolguard.records import HostEventKind
from vvolguard.watch import esxline, syslog
from vvolguard.watch.state import WatchState

log = logging.getLogger("vvolguard.watch")

#: Why input was not used (the ``reason`` label of ``vvolguard_ingest_errors_total``).
BINARY, MALFORMED, OVERSIZED, OVERLOAD, RATE_LIMITED, TLS = (
    "binary",
    "malformed",
    "oversized",
    "overload",
    "rate-limited",
    "tls-handshake",
)
#: Host events that are one failed migration each, counted once: hostd's ``[MIGRATE] ... vMotion
#: failed`` on the source host (vmkernel's switchover line is the same failure seen again).
MIGRATION_FAILURE = HostEventKind.VMOTION_FAILED


@dataclass
class _HostBuffer:
    lines: list[str] = field(default_factory=list)
    prev_header: str | None = None


@dataclass
class _Batch:
    """One submit's messages, sorted by daemon and host before they are merged in."""

    vvold: dict[str, list[str]] = field(default_factory=dict)
    other: list[tuple[str, str, str]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    heard_other: Counter[str] = field(default_factory=Counter)
    cut: int = 0

    def one(self, host: str, daemon: str, line: str) -> None:
        """A one-line message :func:`esxline.fast_line` already took apart."""
        self.counts[daemon] += 1
        if daemon == esxline.VVOLD:
            lines = self.vvold.get(host)
            if lines is None:
                self.vvold[host] = [line]
            else:
                lines.append(line)
        elif daemon == esxline.OTHER:
            self.heard_other[host] += 1
        else:
            self.other.append((host, daemon, line))

    def add(self, msg: syslog.SyslogMessage) -> None:
        if msg.cut:
            self.cut += 1
        daemon = esxline.daemon(msg)
        self.counts[daemon] += 1
        if daemon == esxline.VVOLD:
            lines = self.vvold.get(msg.host)
            if lines is None:
                lines = self.vvold[msg.host] = []
            lines.extend(esxline.file_lines(msg))
        elif daemon == esxline.OTHER:
            self.heard_other[msg.host] += 1
        else:
            self.other.extend((msg.host, daemon, line) for line in esxline.file_lines(msg))


class Ingest:
    """Buffers per host, the counters of what came in and what was refused."""

    def __init__(
        self, state: WatchState, *, max_pending: int = 200_000, max_message: int = 64 * 1024
    ) -> None:
        self.state = state
        self.max_pending = max_pending
        self.max_message = max_message
        self.lock = threading.Lock()
        self._vvold: dict[str, _HostBuffer] = {}
        self._pending = 0
        self._other: list[tuple[str, str, str]] = []  # (host, daemon, line) of hostd/vmkernel/vobd
        self.lines: Counter[tuple[str, str]] = Counter()  # (transport, daemon) -> lines
        self.errors: Counter[str] = Counter()  # reason -> messages
        self.truncated = 0  # messages the sender cut to its maximum length (ESXi 8 msgModified)
        self._said: set[tuple[str, str]] = set()
        self._said_cap = 10_000

    # -- receiving (event loop) --------------------------------------------------------------

    def refuse(self, reason: str, source: str, detail: str = "", n: int = 1) -> None:
        """Count ``n`` refused messages and log the first of each reason per source."""
        self.errors[reason] += n
        key = (reason, source)
        if key not in self._said and len(self._said) < self._said_cap:
            self._said.add(key)
            log.warning(
                "syslog from %s: %s%s (counted; later ones from this source are not logged)",
                source,
                reason,
                f": {detail}" if detail else "",
            )

    def submit(self, messages: list[bytes], peer: str, transport: str) -> None:
        """Syslog messages (framing removed) from ``peer`` over ``transport`` (udp/tcp/tls).

        The batch is sorted into local lists first and merged under the lock once: a TCP read
        brings hundreds of messages, and one lock round per message cost a fifth of the time."""
        batch = _Batch()
        parse = syslog.parse
        fast = esxline.fast_line
        one = batch.one
        for raw in messages:
            if len(raw) > self.max_message:
                self.refuse(OVERSIZED, peer, f"{len(raw)} bytes")
                continue
            if b"\x00" in raw:
                self.refuse(BINARY, peer, "NUL bytes")
                continue
            text = raw.decode("utf-8", "replace")
            if "\ufffd" in text and text.count("\ufffd") * 8 > len(text):
                self.refuse(BINARY, peer, "not text")
                continue
            hit = fast(text)
            if hit is not None:
                one(*hit)
                continue
            msg = parse(text, peer)
            if msg is None:
                self.refuse(MALFORMED, peer, "no syslog header")
                continue
            batch.add(msg)
        self._merge(batch, transport)

    def submit_lines(self, host: str, data: bytes, transport: str) -> None:
        """Complete lines of a followed file (ESXi's own log shape, or a syslog relay's file)."""
        text = data.decode("utf-8", "replace")
        for line in text.splitlines():
            if not line.strip():
                continue
            parsed = ll.parse_line(line)
            if parsed is not None and parsed.app:
                app = parsed.app.lower()
                daemon = (
                    app if app in (esxline.VVOLD, esxline.HOSTD, esxline.VMKERNEL, esxline.VOBD) else None
                )
                if daemon is None:
                    self.lines[(transport, esxline.OTHER)] += 1
                    continue
                self._keep(host, daemon, [line], transport)
                continue
            msg = syslog.parse(line, host)
            if msg is not None:
                self._route(msg, transport)
            elif parsed is not None or ll.CONTINUATION_RE.match(line):
                self._keep(host, esxline.VVOLD, [line], transport)  # a vvold.log line of odd shape
            else:
                self.refuse(MALFORMED, host, "neither an ESXi log line nor syslog")

    def _route(self, msg: syslog.SyslogMessage, transport: str) -> None:
        batch = _Batch()
        batch.add(msg)
        self._merge(batch, transport)

    def _keep(self, host: str, daemon: str, lines: list[str], transport: str) -> None:
        batch = _Batch()
        batch.counts[daemon] += 1
        if daemon == esxline.VVOLD:
            batch.vvold[host] = lines
        else:
            batch.other.extend((host, daemon, line) for line in lines)
        self._merge(batch, transport)

    def _merge(self, batch: _Batch, transport: str) -> None:
        for daemon, n in batch.counts.items():
            self.lines[(transport, daemon)] += n
        self.truncated += batch.cut
        for host, n in batch.heard_other.items():
            self.state.heard(host, n)
        n = sum(len(v) for v in batch.vvold.values()) + len(batch.other)
        if not n:
            return
        with self.lock:
            overload = self._pending + n > self.max_pending
            if not overload:
                self._pending += n
                for host, lines in batch.vvold.items():
                    buf = self._vvold.get(host)
                    if buf is None:
                        buf = self._vvold[host] = _HostBuffer()
                    buf.lines.extend(lines)
                self._other.extend(batch.other)
        if overload:
            self.refuse(
                OVERLOAD,
                next(iter(batch.vvold), "?"),
                "parser behind; buffer full",
                n=sum(batch.counts.values()),
            )

    @property
    def pending(self) -> int:
        return self._pending

    # -- parsing (worker thread) -------------------------------------------------------------

    def prune(self) -> None:
        """Hosts the state forgot (expired, evicted) keep no header context here either."""
        with self.lock:
            if len(self._vvold) > len(self.state.hosts):
                for host in [h for h, b in self._vvold.items() if not b.lines and h not in self.state.hosts]:
                    del self._vvold[host]

    def flush(self) -> int:
        """Parse and fold everything buffered; returns the lines handled."""
        self.prune()
        with self.lock:
            batch = {h: b.lines for h, b in self._vvold.items() if b.lines}
            prev = {h: self._vvold[h].prev_header for h in batch}
            for h in batch:
                self._vvold[h].lines = []
            other, self._other = self._other, []
            self._pending = 0
        n = sum(len(v) for v in batch.values()) + len(other)
        for host, lines in batch.items():
            self.state.heard(host, len(lines), vvold=True)
        if batch:
            self._parse_vvold(batch, prev)
        if other:
            self._host_events(other)
        return n

    def _parse_vvold(self, batch: dict[str, list[str]], prev: dict[str, str | None]) -> None:
        parts: list[str] = []
        starts: list[int] = []  # first block line (1-based) of each host's segment
        hosts: list[str] = []
        injected: list[int] = []  # block lines that are a previous batch's header, not new input
        for host, lines in batch.items():
            header = prev.get(host)
            if header is None:
                # A host's first lines may continue a record we never saw: nothing to attach to.
                skip = 0
                while skip < len(lines) and not ll.TS_RE.match(lines[skip]):
                    skip += 1
                lines = lines[skip:]
                if not lines:
                    continue
            starts.append(len(parts) + 1)
            hosts.append(host)
            if header is not None:
                parts.append(header)
                injected.append(len(parts))
            parts.extend(lines)
            last = _last_header(lines)
            if last is not None:
                with self.lock:
                    if host in self._vvold:
                        self._vvold[host].prev_header = last
        if not parts:
            return
        data = ("\n".join(parts) + "\n").encode("utf-8", "replace")
        block: Block | None = Block(data=data, start=0, stop=len(data), prev_header=None)
        frames: list[pl.DataFrame] = []
        while block is not None:
            # The reader parses a big block in passes; each pass numbers its lines from 1.
            before = data.count(b"\n", 0, block.start)
            parsed = parse_block(block, "syslog", None)
            if parsed.frame is not None:
                frames.append(parsed.frame.frame.with_columns(pl.col("line") + before))
            block = parsed.rest
        if not frames:
            return
        frame = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
        if injected:
            frame = frame.filter(~pl.col("line").is_in(injected))
        index = pl.Series("seg", starts, dtype=pl.Int64)
        seg = index.search_sorted(frame.get_column("line"), side="right") - 1
        names = pl.Series("host", hosts, dtype=pl.String)
        frame = frame.with_columns(host=names.gather(seg))
        self.state.fold(frame)

    def _host_events(self, other: list[tuple[str, str, str]]) -> None:
        """hostd/vmkernel/vobd lines: the host-event rules ``diagnose`` uses (hostlogs.RULES)."""
        heard: Counter[str] = Counter()
        for host, _daemon, line in other:
            heard[host] += 1
            lower = line.lower().encode("utf-8", "replace")
            for rule in HOST_RULES:
                if any(k in lower for k in rule.keywords) and rule.pattern.search(line):
                    parsed = ll.parse_line(line)
                    ts = parsed.ts.timestamp() if parsed else None
                    self.state.host_event(host, rule.kind.value, ts, rule.kind == MIGRATION_FAILURE)
                    break
        for host, n in heard.items():
            self.state.heard(host, n)


def _last_header(lines: list[str]) -> str | None:
    for line in reversed(lines):
        if ll.TS_RE.match(line):
            return line
    return None
