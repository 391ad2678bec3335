"""The recorded operational limit is the highest level at which nothing failed and no pressure
was seen (issue 15), with its evidence; a drain that never met pressure records a lower bound.
Also: an older store is migrated in place and its rows stay readable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vvolguard.drain.backends.simulated import SimulatedBackend
from vvolguard.drain.controller import DrainController, DrainOptions
from vvolguard.drain.journal import Journal
from vvolguard.drain.ledger import LevelLedger, LimitKind
from vvolguard.drain.limits import make_limit
from vvolguard.store import ObservedLimit, Store


def run_levels(ledger: LevelLedger, steps: list[tuple[float, list[str]]]) -> None:
    for now, inflight in steps:
        ledger.observe(now, inflight)


def test_a_failure_at_four_records_three_not_four() -> None:
    """The issue's story: grew to 4, one migration failed, backed off. Three ran clean."""
    ledger = LevelLedger()
    run_levels(ledger, [(0, ["a"]), (10, ["a", "b"]), (20, ["a", "b", "c"])])
    ledger.finished("a", ok=True, pressure=False)
    run_levels(ledger, [(30, ["b", "c", "d"]), (40, ["b", "c", "d", "e"])])
    ledger.finished("b", ok=True, pressure=False)  # b saw 4 in flight and still succeeded
    ledger.finished("e", ok=False, pressure=True, reason="A system error occurred.")
    run_levels(ledger, [(45, ["c", "d"])])
    ledger.finished("c", ok=True, pressure=False)
    ledger.finished("d", ok=True, pressure=False)
    found = ledger.finding()
    assert found is not None
    assert (found.level, found.kind, found.bound) == (3, LimitKind.BOUNDED, 4)
    # 30-40 s with b, c, d surely in flight; 20-30 s does not count (a ended within it)
    assert found.seconds == 10.0 and found.migrations == 3
    assert "A system error occurred." in (found.bound_reason or "")


def test_a_failure_taints_every_level_its_flight_saw() -> None:
    """What the govmomi simulator showed: a migration submitted as the 4th fails, but before its
    failure is polled a 5th is submitted. Its peak is 5; the level it failed at is 4."""
    ledger = LevelLedger()
    run_levels(ledger, [(0, ["a", "b", "c"]), (5, ["a", "b", "c", "d"]), (6, ["a", "b", "c", "d", "e"])])
    ledger.finished("d", ok=False, pressure=True, reason="A system error occurred.")
    ledger.finished("e", ok=False, pressure=True, reason="A system error occurred.")
    run_levels(ledger, [(7, ["a", "b", "c"])])
    for vm in "abc":
        ledger.finished(vm, ok=True, pressure=False)  # they saw 4 and 5 and still succeeded
    found = ledger.finding()
    assert found is not None and (found.level, found.bound) == (3, 4)


def test_a_pressure_mark_taints_the_level_that_held_while_it_arose() -> None:
    ledger = LevelLedger()
    run_levels(ledger, [(0, ["a"]), (5, ["a", "b"]), (10, ["a", "b", "c"])])
    ledger.mark("no free connections to VP")  # arose while three were in flight
    run_levels(ledger, [(12, ["a", "b"])])
    for vm in "abc":
        ledger.finished(vm, ok=True, pressure=False)
    found = ledger.finding()
    assert found is not None and (found.level, found.bound) == (2, 3)
    assert "no free connections" in (found.bound_reason or "")


def test_pressure_with_one_in_flight_does_not_bound_the_limit() -> None:
    """A mark while only one of ours ran says nothing about concurrency (someone else's load)."""
    ledger = LevelLedger()
    run_levels(ledger, [(0, ["a"])])
    ledger.mark("provider busy (retry 3)")
    run_levels(ledger, [(5, ["a", "b"]), (10, ["a", "b"])])
    ledger.finished("a", ok=True, pressure=False)
    ledger.finished("b", ok=True, pressure=False)
    found = ledger.finding()
    assert found is not None and (found.level, found.kind) == (2, LimitKind.LOWER_BOUND)
    assert "not probed beyond" in found.describe()


def test_nothing_proven_when_no_migration_finished_cleanly() -> None:
    ledger = LevelLedger()
    run_levels(ledger, [(0, ["a"]), (5, ["a", "b"])])
    ledger.finished("a", ok=False, pressure=True, reason="x")
    ledger.finished("b", ok=False, pressure=False, reason="switchover")
    assert ledger.finding() is None


def test_a_calm_drain_records_a_lower_bound_with_its_evidence() -> None:
    backend = SimulatedBackend.open(None, profile="enterprise", vms=8, seed=1)
    journal, _ = Journal.open(
        ":memory:", endpoint=backend.endpoint, source_host="esx01", targets=[], options={}
    )
    options = DrainOptions(source="esx01.vvol.lab", max_inflight=3)
    result = DrainController(
        backend, journal, make_limit("gradient", 8), options, log_sources=backend.log_sources(["esx01"])
    ).run()
    assert result.failed_tasks == 0 and result.limit_found is not None
    assert result.limit_found.kind is LimitKind.LOWER_BOUND and result.safe_limit == 3
    assert result.limit_found.seconds > 0 and result.limit_found.migrations >= 3


def test_an_older_store_is_migrated_in_place_and_its_rows_stay_readable(tmp_path: Path) -> None:
    path = tmp_path / "vvolguard.db"
    old = sqlite3.connect(path)
    old.executescript(
        """CREATE TABLE observed_limits (
            vcenter TEXT NOT NULL, host TEXT NOT NULL, provider TEXT NOT NULL,
            safe_limit INTEGER NOT NULL, ceiling INTEGER NOT NULL, migrated INTEGER NOT NULL,
            failed INTEGER NOT NULL, congestion_episodes INTEGER NOT NULL, observed_at TEXT NOT NULL,
            PRIMARY KEY (vcenter, host, provider));
        INSERT INTO observed_limits
            VALUES ('vc1','esx-03','pure-ct0',4,8,30,1,2,'2026-01-01T00:00:00+00:00');"""
    )
    old.commit()
    old.close()
    store = Store(path)
    [row] = store.limits()
    assert (row.safe_limit, row.kind, row.bound, row.migrated) == (4, "legacy", None, 30)
    assert "may overstate" in row.describe()
    store.record_limit(
        ObservedLimit(
            "vc1",
            "esx-05",
            "pure-ct0",
            3,
            8,
            12,
            1,
            1,
            "2026-02-01T00:00:00+00:00",
            kind="bounded",
            bound=4,
            bound_reason="a migration failed at 4 in flight",
            seconds_at_limit=120.0,
            migrations_at_limit=7,
        )
    )
    store.close()
    again = Store(path)  # a second open finds the columns already there
    known = again.known("vc1", "esx-05", "pure-ct0")
    assert known is not None and (known.kind, known.bound, known.migrations_at_limit) == ("bounded", 4, 7)
    assert [r.kind for r in again.limits()] == ["legacy", "bounded"]
    again.close()
