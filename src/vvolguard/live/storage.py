"""Per host: vVol datastores, storage containers and Protocol Endpoints from the vSphere API,
written as the ``esxcli storage vvol … list`` outputs of a vm-support bundle (docs/evidence-formats.md
§2, §3) under ``hosts/<host>/``.

Why from the API: it needs no SSH and no shell on the host, and it is the same data esxcli shows:
a vVol datastore's ``info.vvolDS`` is one storage container (``scId``, ``storageArray``), its
``hostPE`` the PEs each host has configured for it, and ``vasaProviderInfo`` the providers (with
per-array active/priority) as the host knows them. A PE is **configured** on a host when that
host's ``hostPE`` entry lists it, and **accessible** when its LUN on the host is operational
(``config.storageDevice.scsiLun[].operationalState`` is ``ok``) or, for NFS PEs, when the datastore
is mounted and accessible on the host. A PE configured for another host but not for this one is
written as not configured: that is the runbook's "PE missing on the source host".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vvolguard.sim.evidence import esxcli as esxcli_text

HOST_DIR = "hosts/{host}"


@dataclass
class HostStorage:
    """What one host sees of its vVol storage; ``providers`` rows are (name, url, arrays)."""

    host: str
    containers: list[esxcli_text.StorageContainerRow] = field(default_factory=list)
    endpoints: list[esxcli_text.ProtocolEndpointRow] = field(default_factory=list)
    providers: list[tuple[str, str, tuple[esxcli_text.ArrayRow, ...]]] = field(default_factory=list)
    datastores: list[str] = field(default_factory=list)


def _lun_states(host: Any) -> dict[str, bool]:
    """canonical name / uuid of each SCSI LUN -> operational."""
    out: dict[str, bool] = {}
    device = getattr(getattr(host, "config", None), "storageDevice", None)
    for lun in getattr(device, "scsiLun", None) or []:
        ok = "ok" in [str(s) for s in (lun.operationalState or [])]
        for key in (lun.canonicalName, lun.uuid, lun.key):
            if key:
                out[str(key)] = ok
    return out


def _mounted(ds: Any, host: Any) -> bool | None:
    for mount in ds.host or []:
        if mount.key == host:
            info = mount.mountInfo
            return bool(info.accessible) if info is not None and info.accessible is not None else None
    return None


def host_storage(host: Any) -> HostStorage:
    """Read the vVol datastores of ``host`` (a ``vim.HostSystem``)."""
    from pyVmomi import vim

    result = HostStorage(host=host.name)
    luns = _lun_states(host)
    seen_pes: set[str] = set()
    for ds in host.datastore or []:
        info = ds.info
        if not isinstance(info, vim.host.VvolDatastoreInfo) or info.vvolDS is None:
            continue
        vvol = info.vvolDS
        result.datastores.append(ds.name)
        mounted = _mounted(ds, host)
        container = vvol.scId if vvol.scId.startswith("vvol:") else f"vvol:{vvol.scId}"
        arrays = list(vvol.storageArray or [])
        array_id = (arrays[0].uuid or arrays[0].name or "") if arrays else ""
        summary = ds.summary
        result.containers.append(
            esxcli_text.StorageContainerRow(
                name=vvol.name or ds.name,
                uuid=container,
                array=array_id,
                size_mb=int((summary.capacity or 0) / 2**20),
                free_mb=int((summary.freeSpace or 0) / 2**20),
                accessible=bool(summary.accessible) if mounted is None else mounted,
            )
        )
        mine: list[Any] = []
        others: list[Any] = []
        for host_pe in vvol.hostPE or []:
            (mine if host_pe.key == host else others).extend(host_pe.protocolEndpoint or [])
        configured_ids = {pe.uuid or pe.deviceId for pe in mine}
        for pe, configured in [(pe, True) for pe in mine] + [
            (pe, False) for pe in others if (pe.uuid or pe.deviceId) not in configured_ids
        ]:
            pe_id = pe.deviceId or pe.uuid
            if not pe_id or pe_id in seen_pes:
                continue
            seen_pes.add(pe_id)
            kind = str(pe.peType or pe.type or "block")
            if kind.lower() in ("block", "scsi"):
                accessible = configured and luns.get(pe_id, luns.get(pe.uuid or "", False))
                pe_type = "SCSI"
            else:
                accessible = configured and bool(mounted)
                pe_type = "NFS" if kind.lower().startswith("nas") or "nfs" in kind.lower() else kind
            result.endpoints.append(
                esxcli_text.ProtocolEndpointRow(
                    pe_id=pe_id,
                    array_id=pe.storageArray or array_id,
                    containers=(container,),
                    pe_type=pe_type,
                    accessible=bool(accessible),
                    configured=configured,
                    remote_host=pe.nfsServer or "",
                    remote_share=pe.nfsDir or "",
                )
            )
        for vp in vvol.vasaProviderInfo or []:
            provider = vp.provider
            rows = tuple(
                esxcli_text.ArrayRow(
                    array_id=s.arrayId, is_active=bool(s.active), priority=int(s.priority or 0)
                )
                for s in vp.arrayState or []
            )
            if provider is not None and all(p[1] != provider.url for p in result.providers):
                result.providers.append((provider.name or provider.url, provider.url, rows))
    return result


def vasaprovider_text(rows: list[tuple[str, str, tuple[esxcli_text.ArrayRow, ...]]]) -> str:
    """``vasaprovider list`` without a Status line: the vSphere API gives the host's providers and
    their arrays, not the host's session state, and an invented "online" would be evidence of
    health that nobody observed."""
    blocks = []
    for name, url, arrays in rows:
        lines = [f"VP Name: {name}", f"   URL: {url}", "   Arrays:"]
        for arr in arrays:
            lines += [
                f"         Array Id: {arr.array_id}",
                f"         Is Active: {'true' if arr.is_active else 'false'}",
                f"         Priority: {arr.priority}",
                "",
            ]
        if not arrays:
            lines.append("")
        blocks.append("\n".join(lines))
    return "\n".join(blocks) + ("\n" if blocks else "")


def host_files(storage: HostStorage) -> dict[str, str]:
    """The bundle-relative command outputs of one host (text, plus the hostname that names it)."""
    base = HOST_DIR.format(host=storage.host)
    files = {
        f"{base}/{esxcli_text.HOSTNAME_FILE}": esxcli_text.hostname_get_text(storage.host),
        f"{base}/{esxcli_text.COMMAND_FILES['storagecontainer'][0]}": esxcli_text.storagecontainer_list_text(
            storage.containers
        ),
        f"{base}/{esxcli_text.COMMAND_FILES['protocolendpoint'][0]}": esxcli_text.protocolendpoint_list_text(
            storage.endpoints
        ),
    }
    if storage.providers:
        files[f"{base}/{esxcli_text.COMMAND_FILES['vasaprovider'][0]}"] = vasaprovider_text(storage.providers)
    return files
