"""``diagnose`` names the scenario's class from the simulated evidence alone, in both ESXi shapes.

The ground-truth file is handed to diagnose too (it must be recognised, not warned about), but the
analysis ignores it; the verdict has to come from the evidence.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from vvolguard.pipeline import diagnose
from vvolguard.records import EvidenceKind
from vvolguard.sim import simulate
from vvolguard.sim.scenarios import SCENARIOS

CASES = [(scenario, esxi, seed) for scenario in SCENARIOS for esxi in (7, 8) for seed in (1, 6)]


@pytest.mark.parametrize(("scenario", "esxi", "seed"), CASES)
def test_diagnose_gives_the_scenario_class(tmp_path: Path, scenario: str, esxi: int, seed: int) -> None:
    form = "folder" if seed % 2 else "tgz"
    result = simulate(
        scenario=scenario,
        hosts=4,
        vms=32,
        esxi=esxi,
        seed=seed,
        out=tmp_path,
        formats=form,
        duration_s=2 * 3600,
    )
    bundles = sorted(tmp_path.glob("esx-*")) if form == "folder" else [tmp_path / "archives"]
    truth_file = tmp_path / "ground-truth.json"
    end = datetime.fromisoformat(result.ground_truth["window"]["end"])
    diagnosis = diagnose([*bundles, tmp_path / "vcenter", tmp_path / "certs", truth_file], now=end)
    assert diagnosis.verdict.cls == SCENARIOS[scenario].expected_class, diagnosis.verdict.summary
    truth_input = next(i for i in diagnosis.inputs if i.file.endswith("ground-truth.json"))
    assert truth_input.kind == EvidenceKind.GROUND_TRUTH
    assert not [w for w in diagnosis.warnings if "ground-truth" in str(w)]


def test_a_provider_that_keeps_up_is_not_called_saturated(tmp_path: Path) -> None:
    """The ground truth follows what happened, not the scenario's name: the same evacuation
    against a provider with room to spare never gets a busy answer, and both say healthy."""
    result = simulate(
        scenario="saturation", hosts=4, vms=48, esxi=8, seed=2, out=tmp_path, profile="enterprise"
    )
    assert result.failed == 0 and result.ground_truth["provider"]["busy_answers"] == 0
    assert result.expected_class == result.ground_truth["expected_class"] == "healthy"
    end = datetime.fromisoformat(result.ground_truth["window"]["end"])
    diagnosis = diagnose([tmp_path / "archives", tmp_path / "vcenter" / "get-task.json"], now=end)
    assert diagnosis.verdict.cls == "healthy", diagnosis.verdict.summary


def _diagnosis_json(paths: list[Path], hash_seed: str) -> dict:
    """The CLI's JSON under one interpreter hash seed (fixed at start-up, hence a child)."""
    import json
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "vvolguard.cli.main", "diagnose", *map(str, paths), "--json", "--now", NOW],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
        timeout=300,
        check=True,
    )
    return json.loads(proc.stdout)


NOW = "2026-03-15T00:00:00Z"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_same_evidence_same_report_whatever_the_hash_seed(tmp_path: Path, scenario: str) -> None:
    """Set and frozenset iteration order changes with the hash seed; a report built from it
    (which host-log failure is cited first, say) would differ between two runs on the same
    evidence, and an admin comparing them would chase a difference that is not there."""
    simulate(scenario=scenario, hosts=4, vms=24, esxi=7, seed=3, out=tmp_path, formats="tgz", duration_s=3600)
    paths = [tmp_path / "archives", tmp_path / "vcenter", tmp_path / "certs"]
    first, second = (_diagnosis_json(paths, seed) for seed in ("1", "2"))
    assert first == second
