"""``watch --vcenter`` against the govmomi vCenter simulator (the drain's, tests/drain): vMotions
in flight per source host counted exactly while relocations run, their outcomes from vCenter's
events, a vCenter that goes away counted and logged once while watch keeps receiving syslog."""

from __future__ import annotations

import io
import json
import logging
import shutil
import socket
from pathlib import Path

import pytest
from tests.drain.vcsim_fixture import SOURCE, Vcsim, vcsim_binary, vcsim_factory

from vvolguard.drain.backends.vsphere import VSphereBackend, connect
from vvolguard.watch.receiver import SyslogEndpoint
from vvolguard.watch.service import WatchConfig, WatchService, run_in_thread
from vvolguard.watch.vcenter import VCenterWatch

from .watch_helpers import metric, scrape, wait_for

__all__ = ["vcsim_binary", "vcsim_factory"]  # fixtures used by name below

pytestmark = pytest.mark.vcsim

PASSWORD = "pw-Watch!never-shown"
USER = "readonly@vsphere.local"
SRC = "esx-01.vcsim.test"


def _backend(sim: Vcsim) -> VSphereBackend:
    return connect(sim.url, "administrator@vsphere.local", PASSWORD, ca_file=sim.cert)


def _watch(sim: Vcsim, out: io.StringIO, ca: Path, *syslog: str) -> tuple[WatchService, object]:
    config = WatchConfig(
        syslog=[SyslogEndpoint.parse(u) for u in syslog], listen=("127.0.0.1", 0), interval=0.05
    )
    service = WatchService(config, json_lines=out)
    shutil.copy(sim.cert, ca)  # the simulator removes its own copy when it stops
    service.add_vcenter(VCenterWatch(sim.url, USER, PASSWORD, ca_file=ca, interval=0.2))
    thread = run_in_thread(service)
    assert wait_for(lambda: metric(scrape(service.metrics_port or 0), "vvolguard_vcenter_up") == 1)
    return service, thread


def _changes(out: io.StringIO, what: str) -> list[dict]:
    return [r for r in map(json.loads, out.getvalue().splitlines()) if r["what"] == what]


def test_in_flight_per_source_host_is_exact_and_outcomes_come_from_events(
    vcsim_factory, tmp_path: Path
) -> None:
    sim = vcsim_factory(vms=6, powered_off=0, relocate_seconds=4.0, fail_seconds=1.0)
    backend = _backend(sim)
    vms = backend.list_vms(SOURCE)
    # A relocation finished before watch started is history, not a count of this watch.
    before = backend.submit_relocate(vms[0], "esx-03")
    sim.set(relocateSeconds=0.2)
    wait_for(lambda: backend.poll(before).state.done, timeout=30)
    sim.set(relocateSeconds=4.0)

    out = io.StringIO()
    service, thread = _watch(sim, out, tmp_path / "vc-ca.pem")
    try:
        port = service.metrics_port or 0
        text = scrape(port)
        assert metric(text, "vvolguard_migrations_in_flight", host=SRC) == 0
        assert metric(text, "vvolguard_migrations_total", host=SRC, outcome="succeeded") is None

        tasks = [backend.submit_relocate(vm, "esx-02") for vm in vms[1:4]]
        assert wait_for(lambda: metric(scrape(port), "vvolguard_migrations_in_flight", host=SRC) == 3)
        text = scrape(port)
        assert metric(text, "vvolguard_migrations_in_flight", host="esx-02.vcsim.test") == 0
        assert (
            sum(v for h in sim.hosts for v in [metric(text, "vvolguard_migrations_in_flight", host=h) or 0])
            == 3
        )  # nothing counted twice or on the destination

        wait_for(lambda: all(backend.poll(t).state.done for t in tasks), timeout=30)
        assert wait_for(lambda: metric(scrape(port), "vvolguard_migrations_in_flight", host=SRC) == 0)
        assert wait_for(
            lambda: metric(scrape(port), "vvolguard_migrations_total", host=SRC, outcome="succeeded") == 3
        )

        # Two relocations fail with vCenter's "A system error occurred." (the KB 318662 symptom).
        sim.set(failNext=2)
        failing = [backend.submit_relocate(vm, "esx-04") for vm in vms[4:6]]
        wait_for(lambda: all(backend.poll(t).state.done for t in failing), timeout=30)
        assert wait_for(
            lambda: (
                metric(scrape(port), "vvolguard_migration_failures_total", host=SRC, source="vcenter") == 2
            )
        )
        text = scrape(port)
        assert metric(text, "vvolguard_migrations_total", host=SRC, outcome="failed") == 2
        assert metric(text, "vvolguard_migrations_total", host=SRC, outcome="succeeded") == 3
        assert wait_for(lambda: len(_changes(out, "migration")) == 2)
        failed = _changes(out, "migration")
        assert {c["host"] for c in failed} == {SRC} and all(c["new"] == "failed" for c in failed)
        assert all("A system error occurred." in c["reasons"][0] for c in failed), [
            c["reasons"] for c in failed
        ]
    finally:
        service.stop()
        thread.join(30)  # type: ignore[attr-defined]
        backend.close()


def test_a_vcenter_that_goes_away_is_counted_logged_once_and_never_stops_watch(
    vcsim_factory, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    sim = vcsim_factory(vms=2)
    out = io.StringIO()
    caplog.set_level(logging.WARNING, logger="vvolguard.watch")
    service, thread = _watch(sim, out, tmp_path / "vc-ca.pem", "udp://127.0.0.1:0")
    try:
        port = service.metrics_port or 0
        sim.stop()  # vCenter goes down (its process ends)
        assert wait_for(lambda: metric(scrape(port), "vvolguard_vcenter_up") == 0)
        assert wait_for(
            lambda: (metric(scrape(port), "vvolguard_vcenter_errors_total", reason="unreachable") or 0) >= 3
        )
        said = [r.getMessage() for r in caplog.records if "vCenter" in r.getMessage()]
        down = [m for m in said if ": unreachable: " in m]
        assert len(down) == 1, said  # once, not once per poll
        assert len(said) == len(set(said)), said  # no problem is told twice
        assert _changes(out, "vcenter")[-1]["new"] == "down"

        # syslog still flows while vCenter is gone
        udp = next(b for b in service.bound if b.scheme == "udp")
        line = "<14>2026-03-14T10:10:00.000Z esx-09 Hostd: info hostd[1] [Originator@6876] still here"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(line.encode(), ("127.0.0.1", udp.port))
        assert wait_for(lambda: metric(scrape(port), "vvolguard_ingest_lines_total", transport="udp") == 1)

        everything = scrape(port) + caplog.text + out.getvalue() + repr(service.vcenters)
        assert PASSWORD not in everything
    finally:
        service.stop()
        thread.join(30)  # type: ignore[attr-defined]


def test_an_untrusted_vcenter_certificate_is_refused_and_counted(vcsim_factory) -> None:
    sim = vcsim_factory(vms=1)
    vc = VCenterWatch(sim.url, USER, PASSWORD, interval=0.2)  # no --ca-file: the self-signed cert
    vc.poll_once()
    vc.poll_once()
    assert vc.view.errors["tls"] == 2 and not vc.view.up
    vc.stop()


def test_cli_without_a_password_or_a_terminal_says_so_and_exits_2() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "VVOLGUARD_PASSWORD"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vvolguard.cli.main",
            "watch",
            "--vcenter",
            "https://vc.example",
            "--no-store",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert "VVOLGUARD_PASSWORD" in done.stderr and "Traceback" not in done.stderr
