"""One simulated estate for the fleet tests, read once in this process (the reference run).

24 hosts over one day, three providers (midrange, entry, enterprise), getEvents every 60 s
instead of ESXi's 10 s so the estate is a few MB: the patch waves, the PE problem, the provider
restart and the expiring certificate are the same as in a full-size estate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vvolguard.fleet.run import FleetResult, run_fleet
from vvolguard.sim.estate import TRUTH_FILE, simulate_estate

HOSTS = 24
DAYS = 1
SEED = 5


@pytest.fixture(scope="session")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("estate")
    simulate_estate(out, hosts=HOSTS, days=DAYS, seed=SEED, poll_s=60.0)
    return out


@pytest.fixture(scope="session")
def truth(estate: Path) -> dict[str, Any]:
    return json.loads((estate / TRUTH_FILE).read_text())


@pytest.fixture(scope="session")
def reference(estate: Path, tmp_path_factory: pytest.TempPathFactory) -> FleetResult:
    """The estate read in this process (``workers=0``: no Dask)."""
    return run_fleet([str(estate)], tmp_path_factory.mktemp("fleet-inproc"), workers=0)
