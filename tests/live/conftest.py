"""Fixtures of the live tests: the drain's govmomi vCenter simulator with its vvold logs, and a
real SSH server per simulated host serving them (``sshd.py``), described by an OpenSSH config as
the lab's ``--json`` does."""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import require_simulator
from tests.drain.vcsim_fixture import Vcsim, start_vcsim
from tests.live.sshd import FakeEsx, start_hosts

PASSWORD = "Pw-live-7c1e9f0a"  # distinctive: no output, case file or log may contain it


@pytest.fixture(scope="session")
def vcsim_binary() -> Path:
    """The simulator, built once: skipped only without Go, a failure when Go cannot build it."""
    return require_simulator("builds the govmomi vCenter simulator the live tests run against")


@dataclass
class LiveWorld:
    sim: Vcsim
    hosts: list[FakeEsx]
    ssh_config: Path
    vvold_dir: Path
    roots: dict[str, Path]

    @property
    def url(self) -> str:
        return self.sim.url

    def cli_env(self) -> dict[str, str]:
        return {**os.environ, "VVOLGUARD_PASSWORD": PASSWORD, "VVOLGUARD_DEBUG": "0"}

    def vvold(self, host: str) -> Path:
        return self.vvold_dir / f"{host.split('.')[0]}.vvold.log"


def make_world(
    binary: Path, tmp: Path, refuse: tuple[str, ...] = (), **flags: Any
) -> tuple[LiveWorld, list[Any]]:
    vvold_dir = tmp / "vvold"
    vvold_dir.mkdir()
    sim = start_vcsim(binary, vvold_dir=vvold_dir, **flags)
    roots: dict[str, Path] = {}
    for name in sim.hosts:
        short = name.split(".")[0]
        live = vvold_dir / f"{short}.vvold.log"
        live.write_text(
            "2026-03-14T08:00:00.000Z info vvold[2100874] [Originator@6876 sub=Default]\n"
            "--> VasaOp::EventPollerCB [#1]: ===> Issuing 'getEvents' to VP vcsim-vp "
            "(#outstanding 0/64) [session state: Connected]\n"
        )
        root = tmp / "hosts" / short
        log_dir = root / "var" / "run" / "log"
        log_dir.mkdir(parents=True)
        (log_dir / "vvold.log").symlink_to(live)
        # an old generation (written before any window) and a recent one
        old = log_dir / "vvold.1.gz"
        old.write_bytes(
            gzip.compress(b"2020-01-01T00:00:00.000Z info vvold[1] [Originator@6876 sub=Default] old\n")
        )
        os.utime(old, (time.time() - 30 * 86400, time.time() - 30 * 86400))
        recent = log_dir / "vvold.0.gz"
        recent.write_bytes(gzip.compress(live.read_bytes()))
        (log_dir / "hostd.log").write_text("not collected\n")
        roots[name] = root
    hosts, config = start_hosts(tmp, roots, refuse=lambda n: n.split(".")[0] in refuse)
    world = LiveWorld(sim=sim, hosts=hosts, ssh_config=config, vvold_dir=vvold_dir, roots=roots)
    return world, [sim, *hosts]


@pytest.fixture
def world_factory(vcsim_binary: Path, tmp_path: Path) -> Iterator[Any]:
    started: list[Any] = []
    counter = iter(range(100))

    def factory(refuse: tuple[str, ...] = (), **flags: Any) -> LiveWorld:
        tmp = tmp_path / f"world{next(counter)}"
        tmp.mkdir()
        world, parts = make_world(vcsim_binary, tmp, refuse, **flags)
        started.extend(parts)
        return world

    yield factory
    for part in reversed(started):
        part.stop()
