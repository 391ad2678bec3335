"""On simulated incidents: all the evidence together counts the migrations as the events alone do,
never above vCenter's 8 per host; and a vvold.log copied hours after the failures, without its
rotated files, gives insufficient-evidence naming the host and the window (issue 10 B, C)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from vvolguard.analysis.migrations import host_key
from vvolguard.analysis.model import Diagnosis, FailureClass, NoteKind
from vvolguard.pipeline import diagnose
from vvolguard.sim import simulate

CASES = [
    ("saturation", 7, 1),
    ("saturation", 8, 2),
    ("saturation", 8, 3),
    ("not-control-plane", 8, 1),
    ("pe-presentation", 7, 2),
    ("registration", 8, 4),
]


def counts(d: Diagnosis) -> tuple[int, int, int, dict[str, int]]:
    m = d.migrations
    return m.total, m.succeeded, len(m.failed), {host_key(h): n for h, n in m.peak_concurrency.items()}


@pytest.mark.parametrize(("scenario", "esxi", "seed"), CASES)
def test_all_exports_together_count_as_the_events_alone(
    tmp_path: Path, scenario: str, esxi: int, seed: int
) -> None:
    result = simulate(scenario=scenario, hosts=4, vms=48, esxi=esxi, seed=seed, out=tmp_path, formats="tgz")
    now = datetime.fromisoformat(result.ground_truth["window"]["end"])
    vc = tmp_path / "vcenter"
    events = diagnose([vc / "get-vievent.json"], now=now)
    # every shape the simulator writes: bundles, the vCenter exports and, when it writes them,
    # the admin shapes (terminal pastes, PowerShell 5.1 exports, a local-time CSV)
    extra = [p for p in (tmp_path / "admin",) if p.exists()]
    together = diagnose([tmp_path / "archives", vc, tmp_path / "certs", *extra], now=now)
    assert counts(together) == counts(events)
    truth = result.ground_truth["migrations"]
    assert counts(events)[:3] == (truth["total"], truth["succeeded"], truth["failed"])
    for d in (events, together):
        assert all(n <= 8 for n in d.migrations.peak_concurrency.values())
        assert max((p["in_flight"] for p in d.signals["migrations_in_flight"]), default=0) <= 8
        # the joins alone keep it there: nothing had to be counted down to vCenter's limit
        assert not [n for n in d.notes if n.kind == NoteKind.ADMISSION_LIMIT]
    # each export alone, too, never gives more than the events
    for name in ("tasks.csv", "get-task.json"):
        alone = diagnose([vc / name], now=now)
        assert counts(alone)[:3] == counts(events)[:3]


def test_a_vvold_log_copied_hours_after_the_failures_is_insufficient_evidence(tmp_path: Path) -> None:
    result = simulate(
        scenario="saturation",
        hosts=4,
        vms=32,
        esxi=8,
        seed=1,
        out=tmp_path,
        formats="tgz",
        late_vvold_s=3 * 3600,
    )
    assert result.failed > 0
    logs = [name for name in _members(tmp_path / "archives") if "/var/run/log/vvold" in name]
    assert logs and all(name.endswith("/vvold.log") for name in logs)  # no rotated files were sent
    now = datetime.fromisoformat(result.ground_truth["window"]["end"])
    d = diagnose([tmp_path / "archives", tmp_path / "vcenter", tmp_path / "certs"], now=now)
    assert d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE, d.verdict.summary
    source = result.ground_truth["source_host"]
    assert source in d.verdict.summary and "after the first failure" in d.verdict.summary
    first_failure = min(m.time for m in d.migrations.failed if m.time)
    window = d.primary.coverage[0].needed
    assert window is not None and window[0] < first_failure <= window[1]
    assert any(m.artifact.startswith(f"vvold.log of {source} covering") for m in d.missing_evidence)
    # the same incident with the rotated files is diagnosed as what it was
    full = tmp_path / "full"
    simulate(scenario="saturation", hosts=4, vms=32, esxi=8, seed=1, out=full, formats="tgz")
    d = diagnose([full / "archives", full / "vcenter", full / "certs"], now=now)
    assert d.verdict.cls == FailureClass.PROVIDER_SATURATION


def _members(folder: Path) -> list[str]:
    import tarfile

    out: list[str] = []
    for path in sorted(folder.glob("*.tgz")):
        with tarfile.open(path) as tar:
            out += tar.getnames()
    return out
