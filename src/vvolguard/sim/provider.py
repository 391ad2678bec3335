"""The simulated VASA provider: admission control, a worker pool, service times, states.

Model (see :mod:`vvolguard.sim.profiles` for the sources of each knob):

* A request first passes **admission control**: if ``queue_bound`` requests are already waiting
  for a worker, the provider answers ``PROVIDER_BUSY`` at once (VASA ``VasaProviderBusy``, the
  VP's own flow-control signal, docs/evidence-formats.md §5.2). Otherwise it queues FIFO for one of
  ``concurrency`` workers.
* A worker holds the request for a log-normal **service time** for its operation, multiplied by
  the profile's slow-down factor at that moment and by ``1 + contention × (others in service)``
  (management-plane contention), fixed when service starts.
* The provider keeps working on a request whose host already gave up (timed out): real VPs do
  not cancel server-side work, which is why timeouts make a storm worse.
* **State**: ``online``; ``offline`` (connections time out: TRANSPORT_FAULT ``Timeout /
  SSL_connect() failed in tcp_connect()``, KB 412434); ``untrusted`` (TLS handshake fails after a
  certificate change: the same TRANSPORT_FAULT plus ``GetEndPoint ... SSL Exception``, §1.12).

Statistics (queue waits, busy answers, the longest queue) are kept for the sweep.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from vvolguard.sim.profiles import ProviderProfile

BUSY = "PROVIDER_BUSY"
BUSY_DETAIL = "system busy"  # the OpenSDS VP's wording for its flow-control fault (§5.2)
TRANSPORT_FAULT = "TRANSPORT_FAULT"

#: How long a TCP/TLS connection attempt to an offline provider takes to fail (seconds).
CONNECT_TIMEOUT_S = 20.0
#: A TLS handshake that is refused fails fast (seconds).
HANDSHAKE_FAIL_S = 0.4
#: Network round trip for an answer that does no work (busy), seconds.
RTT_S = 0.004


@dataclass(slots=True)
class ProviderStats:
    requests: int = 0
    busy: int = 0
    completed: int = 0
    queue_wait_total: float = 0.0
    queue_wait_max: float = 0.0
    queue_len_max: int = 0
    by_op: dict[str, int] = field(default_factory=dict)

    @property
    def mean_queue_wait(self) -> float:
        return self.queue_wait_total / self.completed if self.completed else 0.0


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    """What the provider answered: ``code`` is None on success."""

    code: str | None = None
    detail: str = ""
    queue_wait: float = 0.0


class Provider:
    """One VASA provider shared by every host (and vCenter's poller)."""

    def __init__(self, env: simpy.Environment, profile: ProviderProfile, rng: random.Random) -> None:
        self.env = env
        self.profile = profile
        self.rng = rng
        self.workers = simpy.Resource(env, capacity=profile.concurrency)
        self.state = "online"  # online | offline | untrusted
        self.stats = ProviderStats()
        self._in_service = 0

    @property
    def queue_length(self) -> int:
        return len(self.workers.queue)

    @property
    def in_service(self) -> int:
        return self._in_service

    def connect(self) -> Generator[Any, Any, ProviderAnswer]:
        """A TLS connect + setContext. Fails per ``state``; costs a round trip otherwise."""
        if self.state == "offline":
            yield self.env.timeout(CONNECT_TIMEOUT_S)
            return ProviderAnswer(TRANSPORT_FAULT, "Timeout / SSL_connect() failed in tcp_connect()")
        if self.state == "untrusted":
            yield self.env.timeout(HANDSHAKE_FAIL_S)
            return ProviderAnswer(TRANSPORT_FAULT, "Timeout / SSL_connect() failed in tcp_connect()")
        answer = yield self.env.process(self.handle("setContext"))
        return answer

    def handle(self, op: str, weight: float = 1.0) -> Generator[Any, Any, ProviderAnswer]:
        """Serve one request. ``weight`` scales the service time (a batch of several vVols)."""
        env = self.env
        self.stats.requests += 1
        self.stats.by_op[op] = self.stats.by_op.get(op, 0) + 1
        if self.state != "online":
            answer = yield env.process(self.connect())
            return answer
        if (
            len(self.workers.queue) >= self.profile.queue_bound
            and self.workers.count >= self.workers.capacity
        ):
            self.stats.busy += 1
            yield env.timeout(RTT_S)
            return ProviderAnswer(BUSY, BUSY_DETAIL)
        arrived = env.now
        with self.workers.request() as slot:
            self.stats.queue_len_max = max(self.stats.queue_len_max, len(self.workers.queue))
            yield slot
            waited = env.now - arrived
            others = self._in_service
            self._in_service += 1
            try:
                base = self.profile.service_time(op).sample(self.rng) * weight
                factor = self.profile.slowdown_at(env.now) * (1.0 + self.profile.contention * others)
                yield env.timeout(base * factor)
            finally:
                self._in_service -= 1
        self.stats.completed += 1
        self.stats.queue_wait_total += waited
        self.stats.queue_wait_max = max(self.stats.queue_wait_max, waited)
        return ProviderAnswer(None, "", waited)

    def background(self) -> Generator[Any, Any, None]:
        """Run the profile's background storms (clone/snapshot) as Poisson arrivals."""
        for load in sorted(self.profile.background, key=lambda b: b.start_s):
            if self.env.now < load.start_s:
                yield self.env.timeout(load.start_s - self.env.now)
            while self.env.now < load.end_s:
                yield self.env.timeout(self.rng.expovariate(load.ops_per_s))
                if self.env.now < load.end_s:
                    self.env.process(self.handle(load.op))
