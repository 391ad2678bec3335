"""One ESXi host's vvold: its VASA session, connection pool, timeouts, retries and log.

Model:

* One VASA **session** per host and provider, with ``session_connections`` connections
  (``#outstanding n/max``). An operation holds a connection from issue to its FINAL line,
  retries and back-off included (the operation stays outstanding while vvold retries it).
* When every connection is in use, vvold logs ``VasaSession::GetFreeConn: No free connections to
  VP ... - waiting`` and queues for one (KB 318662's signal, wording reconstructed in §1.7).
* Each operation has one **deadline** (``op_timeout_s``, 60 s), the wait for a connection
  included. A provider that has not answered by then gives ``FINAL FAILURE <op>, error (TIMEOUT /
  Operation timed out)``; the provider keeps working on it.
* ``PROVIDER_BUSY`` and ``TRANSPORT_FAULT`` are transient (§5.3): retried with doubling back-off
  and ±25 % jitter up to ``retries`` times while the deadline allows, each retry logged as a
  warning. When they run out: ``FINAL FAILURE``.
* If the provider is unreachable or untrusted, each attempt first tries to re-establish the
  session and logs ``VasaSession::DoSetContext: ... failed [connectionState: TransportError]:
  TRANSPORT_FAULT (Timeout / SSL_connect() failed in tcp_connect())`` (KB 412434), preceded by
  ``GetEndPoint: failed to get endpoint, err=SSL Exception`` when the TLS trust is the problem.
* A **poller** issues ``getEvents`` every ``poll_interval_s`` (10 s), as every host does.

Observable pressure (:class:`HostPressure`) is updated as things happen, so a controller can
poll it in virtual time; :class:`VvoldTail` serves the log as it grows (the drain's LogSource).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import simpy

from vvolguard.sim.evidence.vvold import (
    SSL_CONNECT_DETAIL,
    Shape,
    VvoldRecord,
    format_record,
    header_line,
    msg_final_failure,
    msg_final_success,
    msg_get_endpoint_failure,
    msg_issue,
    msg_no_free_conn,
    msg_query_empty,
    msg_retry,
    msg_setcontext_failure,
)
from vvolguard.sim.profiles import ProviderProfile
from vvolguard.sim.provider import BUSY, TRANSPORT_FAULT, Provider, ProviderAnswer

TIMEOUT = "TIMEOUT"
TIMEOUT_DETAIL = "Operation timed out"
#: vvold's fault codes -> the VASA 2.0 fault type (docs/evidence-formats.md §5.2) shown on a second line.
VASA_FAULTS = {BUSY: "VasaProviderBusy", TIMEOUT: "Timeout"}


@dataclass(slots=True)
class HostInfo:
    """Identity of one simulated ESXi host."""

    name: str
    index: int
    moref: str
    shape: Shape
    vvold_pid: int
    hostd_pid: int
    vmkernel_world: int
    pe_visible: bool = True
    bundle_pid: int = 0


@dataclass(frozen=True, slots=True)
class OpResult:
    op: str
    ok: bool
    code: str | None
    detail: str
    elapsed_s: float
    opseq: int


@dataclass(frozen=True, slots=True)
class PressureSnapshot:
    """What a controller can see of one host's VASA session at virtual time ``at`` (seconds).

    Counters are cumulative since the start; ``create_ms_recent`` is the mean swap-vVol create
    latency of the last few creates and ``create_ms_baseline`` the fastest of the first few.
    """

    host: str
    at: float
    outstanding: int
    ceiling: int
    waiting_for_conn: int
    conn_waits: int
    busy_faults: int
    timeouts: int
    transport_faults: int
    retries: int
    failures: int
    successes: int
    create_ms_recent: float | None
    create_ms_baseline: float | None


@dataclass(slots=True)
class HostPressure:
    conn_waits: int = 0
    busy_faults: int = 0
    timeouts: int = 0
    transport_faults: int = 0
    retries: int = 0
    failures: int = 0
    successes: int = 0
    max_outstanding: int = 0
    create_ms: deque[float] = field(default_factory=lambda: deque(maxlen=5))
    create_ms_first: list[float] = field(default_factory=list)


class Vvold:
    """The vvold daemon of one host, talking to one provider."""

    def __init__(
        self,
        env: simpy.Environment,
        host: HostInfo,
        provider: Provider,
        rng: random.Random,
        t0: datetime,
        keep_records: bool = True,
    ) -> None:
        self.env = env
        self.host = host
        self.provider = provider
        self.profile: ProviderProfile = provider.profile
        self.rng = rng
        self.t0 = t0
        self.pool = simpy.Resource(env, capacity=self.profile.session_connections)
        #: The pool's fixed size as an int (simpy types ``Resource.capacity`` as ``float | int``).
        self.ceiling: int = self.profile.session_connections
        self.pressure = HostPressure()
        self.records: list[VvoldRecord] = []
        self.keep_records = keep_records
        self.opseq = rng.randint(80_000, 95_000)
        self.record_count = 0

    # -- logging ----------------------------------------------------------------------------

    def ts(self, t: float | None = None) -> datetime:
        return self.t0 + timedelta(seconds=self.env.now if t is None else t)

    def log(
        self,
        level: str,
        message: str,
        opid: str | None = None,
        inline: bool = False,
        more: tuple[str, ...] = (),
    ) -> None:
        self.record_count += 1
        if self.keep_records:
            self.records.append(VvoldRecord(self.ts(), level, message, more=more, opid=opid, inline=inline))

    # -- pressure ---------------------------------------------------------------------------

    def snapshot(self) -> PressureSnapshot:
        p = self.pressure
        recent = sum(p.create_ms) / len(p.create_ms) if p.create_ms else None
        baseline = min(p.create_ms_first) if p.create_ms_first else None
        return PressureSnapshot(
            host=self.host.name,
            at=self.env.now,
            outstanding=self.pool.count,
            ceiling=self.ceiling,
            waiting_for_conn=len(self.pool.queue),
            conn_waits=p.conn_waits,
            busy_faults=p.busy_faults,
            timeouts=p.timeouts,
            transport_faults=p.transport_faults,
            retries=p.retries,
            failures=p.failures,
            successes=p.successes,
            create_ms_recent=recent,
            create_ms_baseline=baseline,
        )

    # -- operations -------------------------------------------------------------------------

    def call(self, op: str, opid: str | None = None, weight: float = 1.0) -> Generator[Any, Any, OpResult]:
        """Run one VASA operation the way vvold does; the process value is an :class:`OpResult`."""
        env = self.env
        prof = self.profile
        vp = prof.vp_name
        self.opseq += 1
        opseq = self.opseq
        start = env.now
        deadline = start + prof.op_timeout_s

        request = self.pool.request()
        if not request.triggered:
            self.pressure.conn_waits += 1
            self.log("warning", msg_no_free_conn(vp, prof.url, self.pool.count, self.ceiling), opid)
            got = yield request | env.timeout(max(0.0, deadline - env.now))
            if request not in got:
                request.cancel()
                return self._fail(
                    op, opseq, TIMEOUT, "Timed out waiting for a free connection", start, opid, 0
                )
        self.pressure.max_outstanding = max(self.pressure.max_outstanding, self.pool.count)
        try:
            state = "Connected" if self.provider.state == "online" else "TransportError"
            self.log("info", msg_issue(opseq, op, vp, self.pool.count - 1, self.ceiling, state), opid)
            code, detail = None, ""
            for attempt in range(prof.retries + 1):
                remaining = deadline - env.now
                if remaining <= 0:
                    code, detail = TIMEOUT, TIMEOUT_DETAIL
                    self.pressure.timeouts += 1
                    break
                served = env.process(self.provider.handle(op, weight))
                got = yield served | env.timeout(remaining)
                if served not in got:
                    code, detail = TIMEOUT, TIMEOUT_DETAIL
                    self.pressure.timeouts += 1
                    break
                answer: ProviderAnswer = served.value  # type: ignore[assignment]  # set: served fired
                if answer.code is None:
                    return self._succeed(op, opseq, start, opid)
                code, detail = answer.code, answer.detail
                if code == BUSY:
                    self.pressure.busy_faults += 1
                elif code == TRANSPORT_FAULT:
                    self.pressure.transport_faults += 1
                    self._log_session_failure(opid)
                if attempt >= prof.retries:
                    break
                delay = prof.retry_backoff_s * (2**attempt) * self.rng.uniform(0.75, 1.25)
                if env.now + delay >= deadline:
                    break
                self.pressure.retries += 1
                self.log(
                    "warning",
                    msg_retry(opseq, op, code, int(delay * 1000), attempt + 1, prof.retries, vp),
                    opid,
                )
                yield env.timeout(delay)
            return self._fail(op, opseq, code or TIMEOUT, detail or TIMEOUT_DETAIL, start, opid, None)
        finally:
            self.pool.release(request)

    def _log_session_failure(self, opid: str | None) -> None:
        prof = self.profile
        if self.provider.state == "untrusted":
            self.log("error", msg_get_endpoint_failure(), "Session")
        self.log(
            "error",
            msg_setcontext_failure(
                prof.vp_name, prof.url, "TransportError", TRANSPORT_FAULT, SSL_CONNECT_DETAIL
            ),
            "Session",
        )

    def _succeed(self, op: str, opseq: int, start: float, opid: str | None) -> OpResult:
        elapsed = self.env.now - start
        ms = int(elapsed * 1000)
        self.pressure.successes += 1
        if op == "createVirtualVolume":
            self.pressure.create_ms.append(ms)
            if len(self.pressure.create_ms_first) < 5:
                self.pressure.create_ms_first.append(ms)
        prof = self.profile
        outstanding = max(0, self.pool.count - 1)
        if op.startswith("query") and self.rng.random() < 0.15:
            # As in the Pure sample: the outcome logged from ThrowFromSessionError at error level.
            self.log(
                "error",
                msg_final_success(
                    opseq, op, prof.vp_name, prof.container_vvold, ms, outstanding, "ThrowFromSessionError"
                ),
                opid,
            )
            self.log("info", msg_query_empty(), opid, inline=True)
        else:
            self.log(
                "info",
                msg_final_success(opseq, op, prof.vp_name, prof.container_vvold, ms, outstanding),
                opid,
            )
        return OpResult(op, True, None, "", elapsed, opseq)

    def _fail(
        self,
        op: str,
        opseq: int,
        code: str,
        detail: str,
        start: float,
        opid: str | None,
        outstanding: int | None,
    ) -> OpResult:
        elapsed = self.env.now - start
        self.pressure.failures += 1
        prof = self.profile
        held = self.pool.count - 1 if outstanding is None else self.pool.count
        fault = VASA_FAULTS.get(code)
        self.log(
            "error",
            msg_final_failure(
                opseq, op, code, detail, prof.vp_name, prof.container_vvold, int(elapsed * 1000), max(0, held)
            ),
            opid,
            # a second line of the same event: `-->` (esxi7) or the `+` line marker (esxi8)
            more=(f"Fault: com.vmware.vim.vasa.v20.{fault} ({op})",) if fault else (),
        )
        return OpResult(op, False, code, detail, elapsed, opseq)

    # -- background -------------------------------------------------------------------------

    def poller(self) -> Generator[Any, Any, None]:
        """getEvents every ``poll_interval_s``, from a random phase (hosts are not in lockstep)."""
        yield self.env.timeout(self.rng.uniform(0, self.profile.poll_interval_s))
        while True:
            yield self.env.process(self.call("getEvents", opid="EventPoller"))
            yield self.env.timeout(self.profile.poll_interval_s)


class VvoldTail:
    """New bytes of one host's vvold.log since the last :meth:`read` (the drain's LogSource).

    Formats records as they are appended, so a controller in virtual time sees the log grow the
    way ``tail -F`` would show it. Rotation is not modelled here (the bytes are continuous).
    """

    def __init__(self, vvold: Vvold) -> None:
        self.vvold = vvold
        self.host = vvold.host.name
        self._index = 0
        self._started = False

    def read(self) -> bytes:
        v = self.vvold
        parts: list[str] = []
        if not self._started:
            self._started = True
            parts.append(header_line(v.host.shape, v.t0, v.t0, v.host.vvold_pid, rotated=False))
        records = v.records[self._index :]
        self._index = len(v.records)
        parts.extend(format_record(v.host.shape, r, v.host.vvold_pid) for r in records)
        return "".join(parts).encode()

    def close(self) -> None:
        self._index = len(self.vvold.records)
