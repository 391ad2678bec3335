"""The hosts' SSH endpoints as collectors use them: asyncssh with the lab's ssh_config (host keys
verified, key login), ls / cat / zcat / tail -F of vvold.log, esxcli in ESXi's shapes, SFTP."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from lab_fixture import all_of, connect, disconnect, host_named
from pyVmomi import vim, vmodl

from vvolguard.evidence.esxcli import entries
from vvolguard.lab import LabInfo


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> LabInfo:
    return lab_factory("pe-presentation")


async def run(lab: LabInfo, host: str, command: str) -> asyncssh.SSHCompletedProcess:
    async with asyncssh.connect(host, config=[lab.ssh_config]) as conn:
        return await conn.run(command, encoding=None)


def quiet(*args: Any, **kwargs: Any) -> None:
    """The esxcli readers' warning callback: the lab's outputs must not need any."""
    raise AssertionError(f"esxcli reader warned: {args} {kwargs}")


def ssh(lab: LabInfo, host: str, command: str) -> asyncssh.SSHCompletedProcess:
    return asyncio.run(run(lab, host, command))


def test_ssh_config_names_every_host_and_pins_its_key(lab: LabInfo) -> None:
    text = Path(lab.ssh_config).read_text()
    for host in lab.hosts:
        assert f"Host {host} {host.split('.')[0]}\n" in text
    assert "StrictHostKeyChecking yes" in text and "IdentityFile" in text
    known = Path(lab.ssh_config).with_name("known_hosts").read_text().splitlines()
    assert len(known) == len(lab.hosts) and len({line.split()[-1] for line in known}) == len(lab.hosts)
    identity = Path(lab.ssh_config).with_name("id_ed25519")
    assert identity.stat().st_mode & 0o077 == 0


def test_a_wrong_host_key_is_refused(lab: LabInfo, tmp_path: Path) -> None:
    # esx02's entry with esx01's known key: the client must refuse, not trust on first use.
    config = Path(lab.ssh_config).read_text()
    known = Path(lab.ssh_config).with_name("known_hosts").read_text().splitlines()
    swapped = tmp_path / "known_hosts"
    port2 = lab.ssh_ports["esx02.vvol.lab"]
    swapped.write_text(f"[127.0.0.1]:{port2} {' '.join(known[0].split()[1:])}\n")
    (tmp_path / "config").write_text(
        config.replace(str(Path(lab.ssh_config).with_name("known_hosts")), str(swapped))
    )

    async def attempt() -> None:
        async with asyncssh.connect("esx02", config=[str(tmp_path / "config")]):
            pass

    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        asyncio.run(attempt())


def test_vvold_logs_are_served_as_written(lab: LabInfo) -> None:
    host = lab.hosts[0]
    root = lab.host_root(host) / "var/run/log"
    listing = ssh(lab, "esx01", "ls /var/run/log/").stdout.decode().split()
    assert "vvold.log" in listing and listing == sorted(p.name for p in root.iterdir())
    assert ssh(lab, "esx01", "cat /var/run/log/vvold.log").stdout == (root / "vvold.log").read_bytes()
    rotated = sorted(root.glob("vvold.*.gz"))
    for gz in rotated:
        assert ssh(lab, "esx01", f"zcat /var/run/log/{gz.name}").stdout == gzip.decompress(gz.read_bytes())
        assert ssh(lab, "esx01", f"cat /var/run/log/{gz.name}").stdout == gz.read_bytes()
    last = ssh(lab, "esx01", "tail -n 3 /var/run/log/vvold.log").stdout
    assert last.splitlines() == (root / "vvold.log").read_bytes().splitlines()[-3:]
    missing = ssh(lab, "esx01", "cat /etc/shadow /var/run/log/../../../../etc/passwd")
    assert missing.exit_status == 1 and missing.stdout == b""
    assert ssh(lab, "esx01", "rm -rf /").exit_status == 127


def test_esxcli_shows_the_pe_problem_on_one_host_only(lab: LabInfo) -> None:
    spec = json.loads((Path(lab.folder) / "lab-spec.json").read_text())
    states = {h["name"]: h["peState"] for h in spec["hosts"]}
    bad = [h for h, s in states.items() if s != "ok"]
    assert len(bad) == 1, states
    for host in lab.hosts:
        text = ssh(lab, host, "esxcli storage vvol protocolendpoint list").stdout.decode()
        pes = list(entries(text, quiet))
        as_json = json.loads(
            ssh(lab, host, "esxcli --formatter=json storage vvol protocolendpoint list").stdout
        )
        if states[host] == "missing":
            assert pes == [] and as_json == []
        else:
            assert len(pes) == 1
            assert str(pes[0].fields.get("accessible")).lower() == (
                "true" if states[host] == "ok" else "false"
            )
        providers = list(
            entries(ssh(lab, host, "esxcli storage vvol vasaprovider list").stdout.decode(), print)
        )
        assert providers and str(providers[0].fields.get("status")).lower() == "online"
        containers = ssh(lab, host, "esxcli storage vvol storagecontainer list").stdout.decode()
        assert "vVol_DS" in containers


def test_the_api_agrees_with_esxcli_on_the_pe(lab: LabInfo) -> None:
    spec = json.loads((Path(lab.folder) / "lab-spec.json").read_text())
    states = {h["name"]: h["peState"] for h in spec["hosts"]}
    pe_id = spec["storage"]["peId"]
    si = connect(lab)
    try:
        for host in all_of(si, vim.HostSystem):
            vvol = [ds for ds in host.datastore if isinstance(ds.info, vim.host.VvolDatastoreInfo)]
            assert len(vvol) == 1
            info = vvol[0].info.vvolDS
            assert info.scId == spec["storage"]["containerId"]
            [provider] = info.vasaProviderInfo
            assert (provider.provider.name, provider.provider.url) == (
                "pure-ct0",
                "https://10.21.88.113:8084/vasa",
            )
            assert [(a.arrayId, a.active) for a in provider.arrayState] == [
                (spec["storage"]["arrayId"], True)
            ]
            configured = [p for p in info.hostPE if p.key.name == host.name]
            mount = next(m.mountInfo for m in vvol[0].host if m.key.name == host.name)
            luns = [lun for lun in host.config.storageDevice.scsiLun if lun.protocolEndpoint]
            state = states[host.name]
            assert bool(configured) == (state != "missing")
            if configured:
                assert [pe.deviceId for pe in configured[0].protocolEndpoint] == [pe_id]
            assert mount.accessible == (state == "ok")
            assert [list(lun.operationalState) for lun in luns] == (
                [] if state == "missing" else [["ok"]] if state == "ok" else [["lostCommunication"]]
            )
    finally:
        disconnect(si)


def test_sftp_lists_with_sizes_and_refuses_writes(lab: LabInfo) -> None:
    async def go() -> tuple[dict[str, int], type[BaseException] | None]:
        async with (
            asyncssh.connect("esx02", config=[lab.ssh_config]) as conn,
            conn.start_sftp_client() as sftp,
        ):
            names = {
                n.filename: n.attrs.size for n in await sftp.readdir("/var/run/log") if n.filename[0] != "."
            }
            try:
                await sftp.open("/var/run/log/vvold.log", "w")
            except asyncssh.SFTPError as exc:
                return names, type(exc)
            return names, None

    names, refused = asyncio.run(go())
    root = lab.host_root("esx02.vvol.lab") / "var/run/log"
    assert names == {p.name: p.stat().st_size for p in root.iterdir()}
    assert refused is not None


def test_tail_follows_what_a_migration_appends(lab: LabInfo) -> None:
    si = connect(lab)
    got: list[bytes] = []

    async def follow(ready: asyncio.Event, done: asyncio.Event) -> None:
        async with asyncssh.connect("esx02", config=[lab.ssh_config]) as conn:
            proc = await conn.create_process("tail -n 0 -F /var/run/log/vvold.log", encoding=None)
            ready.set()
            while not done.is_set():
                try:
                    chunk = await asyncio.wait_for(proc.stdout.read(65536), 0.5)
                except TimeoutError:
                    continue
                got.append(chunk)
                if b"FINAL SUCCESS createVirtualVolume" in b"".join(got):
                    done.set()
            proc.close()

    async def main() -> None:
        ready, done = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(follow(ready, done))
        await ready.wait()
        await asyncio.sleep(0.5)
        vm = next(v for v in all_of(si, vim.VirtualMachine) if v.runtime.host.name == "esx01.vvol.lab")
        dest = host_named(si, "esx02.vvol.lab")
        relocation = await asyncio.to_thread(
            vm.RelocateVM_Task, vim.vm.RelocateSpec(host=dest, pool=vm.resourcePool)
        )
        deadline = time.monotonic() + 60
        while relocation.info.state in ("queued", "running") and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.wait_for(done.wait(), 30)
        await task

    try:
        asyncio.run(main())
    finally:
        disconnect(si)
    text = b"".join(got).decode()
    assert "Issuing 'createVirtualVolume'" in text and "FINAL SUCCESS createVirtualVolume" in text
    assert "Section for VMware ESX" not in text  # -n 0: nothing older than the follow


def test_diagnostic_manager_browses_the_same_logs_without_ssh(lab: LabInfo) -> None:
    si = connect(lab)
    try:
        manager = si.RetrieveContent().diagnosticManager
        host = host_named(si, "esx03.vvol.lab")
        assert {"vvold", "hostd", "vmkernel"} <= {d.key for d in manager.QueryDescriptions(host=host)}
        lines = (lab.host_root(host.name) / "var/run/log/vvold.log").read_text().splitlines()
        assert len(lines) > 5
        got: list[str] = []
        start = 1
        while True:
            page = manager.BrowseDiagnosticLog(host=host, key="vvold", start=start, lines=4)
            if not page.lineText:
                break
            assert page.lineStart == start and page.lineEnd == start + len(page.lineText) - 1
            got += list(page.lineText)
            start = page.lineEnd + 1
        assert got[: len(lines)] == lines
        with pytest.raises(vmodl.fault.InvalidArgument):
            manager.BrowseDiagnosticLog(host=host, key="no-such-log")
    finally:
        disconnect(si)
