"""Destinations carry pressure too: a destination whose vvold.log shows pressure gets no new
move while a calmer destination can take it; without pressure the drain's choice is the plan's."""

from __future__ import annotations

from datetime import UTC, datetime

from vvolguard.drain.backends.simulated import SimulatedBackend
from vvolguard.drain.placement import Placement
from vvolguard.drain.pressure import PressureMonitor
from vvolguard.sim.evidence.vvold import VvoldRecord, format_record, msg_no_free_conn

SOURCE = "esx01.vvol.lab"


def no_free_connections() -> bytes:
    message = msg_no_free_conn("pure-ct0", "https://10.1.1.10:8084/vasa", 5, 5)
    record = VvoldRecord(datetime(2026, 3, 14, 10, 0, tzinfo=UTC), "warning", message)
    return format_record("esxi7", record, 2100874).encode()  # type: ignore[arg-type]


def test_a_destination_whose_vvold_shows_pressure_gets_no_new_move() -> None:
    backend = SimulatedBackend.open(None, profile="midrange", vms=6, seed=1)
    targets = backend.resolve_targets(SOURCE, [])
    monitor = PressureMonitor(backend.clock)
    placement = Placement(backend, targets, monitor.host_level)
    vm = backend.list_vms(SOURCE)[0]
    calm_choice, _ = placement.choose(vm)
    assert placement.diverted == 0
    monitor.feed_bytes(calm_choice, no_free_connections())  # the first choice's vvold is full
    monitor.flush()
    dest, problems = placement.choose(vm)
    assert not problems and dest != calm_choice and placement.diverted == 1
    # Every destination under pressure: the least loaded one still gets it (nowhere calmer).
    for host in targets:
        monitor.feed_bytes(host, no_free_connections())
    monitor.flush()
    assert placement.choose(vm)[0] == calm_choice
