"""Migrations started against a lab run into the scenario's provider: nearly full after a
saturation (one fits, a batch does not), unreachable after a registration failure, and a host
without its Protocol Endpoint rejects what is moved to it. Each leaves vvold's lines behind."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lab_fixture import all_of, connect, disconnect, host_named
from pyVmomi import vim

from vvolguard.lab import LabInfo


def relocate(si: Any, vms: list[Any], dest: str) -> list[Any]:
    """Submit every move at once, wait for all; returns the finished TaskInfos."""
    target = host_named(si, dest)
    tasks = [vm.RelocateVM_Task(vim.vm.RelocateSpec(host=target, pool=vm.resourcePool)) for vm in vms]
    deadline = time.monotonic() + 60
    while any(t.info.state in ("queued", "running") for t in tasks) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [t.info for t in tasks]


def vms_on(si: Any, host: str, count: int) -> list[Any]:
    vms = [vm for vm in all_of(si, vim.VirtualMachine) if vm.runtime.host.name == host]
    assert len(vms) >= count, f"{host} has {len(vms)} VMs"
    return vms[:count]


def vvold_growth(lab: LabInfo, host: str, before: int) -> str:
    return (Path(lab.host_root(host)) / "var/run/log/vvold.log").read_bytes()[before:].decode()


def vvold_size(lab: LabInfo, host: str) -> int:
    return (Path(lab.host_root(host)) / "var/run/log/vvold.log").stat().st_size


def test_after_saturation_one_move_fits_and_a_batch_does_not(lab_factory: Any) -> None:
    lab = lab_factory("saturation")
    si = connect(lab)
    try:
        size = vvold_size(lab, "esx03.vvol.lab")
        [single] = relocate(si, vms_on(si, "esx02.vvol.lab", 1), "esx03.vvol.lab")
        assert single.state == "success"
        assert "(#outstanding 4/5)" in vvold_growth(lab, "esx03.vvol.lab", size)

        size = vvold_size(lab, "esx04.vvol.lab")
        batch = relocate(si, vms_on(si, "esx02.vvol.lab", 2), "esx04.vvol.lab")
        failed = [t for t in batch if t.state == "error"]
        assert len(failed) == 1 and failed[0].error.msg == "A system error occurred."
        grown = vvold_growth(lab, "esx04.vvol.lab", size)
        assert "GetFreeConn: No free connections to VP pure-ct0" in grown
        assert "FINAL FAILURE createVirtualVolume" in grown
    finally:
        disconnect(si)


def test_an_unreachable_provider_fails_every_move_at_set_context(lab_factory: Any) -> None:
    lab = lab_factory("registration")
    si = connect(lab)
    try:
        size = vvold_size(lab, "esx02.vvol.lab")
        [info] = relocate(si, vms_on(si, "esx01.vvol.lab", 1), "esx02.vvol.lab")
        assert info.state == "error" and info.error.msg == "A system error occurred."
        grown = vvold_growth(lab, "esx02.vvol.lab", size)
        assert "setContext for VP pure-ct0" in grown and "TRANSPORT_FAULT" in grown
        assert "FINAL SUCCESS" not in grown
    finally:
        disconnect(si)


def test_a_host_without_its_pe_rejects_moves_the_others_take(lab_factory: Any) -> None:
    lab = lab_factory("pe-presentation")
    bad = lab.hosts[-1]
    si = connect(lab)
    try:
        source = next(
            h
            for h in lab.hosts[:-1]
            if [vm for vm in all_of(si, vim.VirtualMachine) if vm.runtime.host.name == h]
        )
        good = next(h for h in lab.hosts[:-1] if h != source)
        size = vvold_size(lab, bad)
        [to_bad] = relocate(si, vms_on(si, source, 1), bad)
        [to_good] = relocate(si, vms_on(si, source, 1), good)
        assert to_bad.state == "error" and to_good.state == "success"
        # The control plane did its part: the swap vVol was created, the data path failed.
        assert "FINAL SUCCESS createVirtualVolume" in vvold_growth(lab, bad, size)
    finally:
        disconnect(si)


def test_a_ceiling_given_alone_is_how_many_moves_fit(lab_factory: Any) -> None:
    lab = lab_factory("saturation", provider_ceiling=2)
    si = connect(lab)
    try:
        states = sorted(t.state for t in relocate(si, vms_on(si, "esx03.vvol.lab", 3), "esx04.vvol.lab"))
        assert states == ["error", "success", "success"]
    finally:
        disconnect(si)
