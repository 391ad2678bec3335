"""A collected case passes the same redaction test as ``escalate --redact``: after packaging with
``--redact``, no host name, domain or VM name of the world it came from is left in any member."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# escalate's redaction tests import their helper module by its bare name (pytest puts their folder
# on the path when it collects them); reuse the same member reader rather than a copy of it.
sys.path.insert(0, str(Path(__file__).parents[1] / "escalate"))
from tests.escalate.test_escalate_redaction import members
from tests.live.test_live_collect import collect

from vvolguard.escalate.package import build_package


def test_collected_case_redacts_like_escalate(world_factory, tmp_path: Path) -> None:
    world = world_factory(relocate_seconds=0.3)
    # some history first: a migration, so the events name VMs and both hosts
    from pyVmomi import vim

    vm = next(v for v in world.sim.vms() if v.runtime.host.name.startswith("esx-01"))
    task = vm.RelocateVM_Task(vim.vm.RelocateSpec(host=world.sim.host("esx-02")))
    while task.info.state in ("queued", "running"):
        time.sleep(0.05)
    case = tmp_path / "case"
    proc = collect(world, case, "esx-01", "esx-02")
    assert proc.returncode == 1, proc.stderr  # partial (no SMS here) is still a case to send
    events = (case / "vcenter" / "get-vievent.json").read_text()
    assert '"EventType": "VmMigratedEvent"' in events  # the whole history, not one page of it
    out = tmp_path / "case.tar.gz"
    build_package([case], out, redact=True, redact_vm_names=True, now=datetime.now(UTC))

    files = members(out)
    assert any("vvold" in name for name in files), sorted(files)
    assert any(
        vm.name.encode() in p.read_bytes() for p in case.rglob("*.json")
    )  # there was something to hide
    forbidden = ["esx-01", "esx-02", "vcsim.test", vm.name]
    leaks = [
        f"{name}: {word}"
        for name, data in files.items()
        for word in forbidden
        if word.lower() in (name + data.decode("utf-8", "replace")).lower()
    ]
    assert not leaks, leaks[:20]
