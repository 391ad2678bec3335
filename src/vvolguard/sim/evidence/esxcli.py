"""``esxcli storage vvol ... list`` outputs: the text formatter and the JSON twins.

Shapes follow docs/evidence-formats.md §2 [RECONSTRUCTED there from verified field names]:

* text (§2.2): one block per record, the first field (or a title line) unindented, the other
  fields indented by 3 spaces, nested list records by 9; booleans lowercase; blocks separated by
  a blank line. The vasaprovider text uses the label ``Array Id`` for the nested array id.
* JSON (§2.3): an array of objects keyed by display names with spaces, JSON booleans and numbers,
  nested lists as arrays. The nested array id key is ``ArrayId`` (the key the host-profile plugin
  reads, §2.1), which is why readers must accept both spellings.

Bundle file names follow §3 (``commands/localcli_storage-vvol-vasaprovider-list.txt`` and
``json/localcli_storage-vvol-vasaprovider-list.json``); see :data:`COMMAND_FILES`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: bundle-relative paths of each command's text output and JSON twin (§3).
COMMAND_FILES: dict[str, tuple[str, str]] = {
    "vasaprovider": (
        "commands/localcli_storage-vvol-vasaprovider-list.txt",
        "json/localcli_storage-vvol-vasaprovider-list.json",
    ),
    "storagecontainer": (
        "commands/localcli_storage-vvol-storagecontainer-list.txt",
        "json/localcli_storage-vvol-storagecontainer-list.json",
    ),
    "protocolendpoint": (
        "commands/localcli_storage-vvol-protocolendpoint-list.txt",
        "json/localcli_storage-vvol-protocolendpoint-list.json",
    ),
}
HOSTNAME_FILE = "commands/localcli_system-hostname-get.txt"
VASACONTEXT_FILE = "commands/localcli_storage-vvol-vasacontext-get.txt"


@dataclass(frozen=True, slots=True)
class ArrayRow:
    array_id: str
    is_active: bool = True
    priority: int = 200


@dataclass(frozen=True, slots=True)
class VasaProviderRow:
    """One ``vasaprovider list`` record. ``status``: online / offline / syncError / ..."""

    name: str
    url: str
    status: str = "online"
    arrays: tuple[ArrayRow, ...] = ()


@dataclass(frozen=True, slots=True)
class StorageContainerRow:
    name: str
    uuid: str  # vvol:<16 hex>-<16 hex>
    array: str
    size_mb: int = 1048576
    free_mb: int = 524288
    accessible: bool = True
    default_policy: str = ""


@dataclass(frozen=True, slots=True)
class ProtocolEndpointRow:
    pe_id: str  # naa.<hex> for SCSI PEs
    array_id: str
    containers: tuple[str, ...] = field(default_factory=tuple)
    pe_type: str = "SCSI"
    accessible: bool = True
    configured: bool = True
    remote_host: str = ""
    remote_share: str = ""


def _b(value: bool) -> str:
    return "true" if value else "false"


def _blocks(blocks: list[str]) -> str:
    return "\n".join(blocks) + ("\n" if blocks else "")


# -- vasaprovider ------------------------------------------------------------------------------


def vasaprovider_list_text(rows: list[VasaProviderRow]) -> str:
    blocks = []
    for row in rows:
        lines = [f"VP Name: {row.name}", f"   URL: {row.url}", f"   Status: {row.status}", "   Arrays:"]
        for arr in row.arrays:
            lines += [
                f"         Array Id: {arr.array_id}",
                f"         Is Active: {_b(arr.is_active)}",
                f"         Priority: {arr.priority}",
                "",
            ]
        if not row.arrays:
            lines.append("")
        blocks.append("\n".join(lines))
    return _blocks(blocks)


def vasaprovider_list_data(rows: list[VasaProviderRow]) -> list[dict[str, Any]]:
    return [
        {
            "VP Name": row.name,
            "URL": row.url,
            "Status": row.status,
            "Arrays": [
                {"ArrayId": a.array_id, "Is Active": a.is_active, "Priority": a.priority} for a in row.arrays
            ],
        }
        for row in rows
    ]


def vasaprovider_list_json(rows: list[VasaProviderRow]) -> str:
    return json.dumps(vasaprovider_list_data(rows), indent=2) + "\n"


# -- storagecontainer --------------------------------------------------------------------------


def storagecontainer_list_text(rows: list[StorageContainerRow]) -> str:
    blocks = []
    for row in rows:
        blocks.append(
            "\n".join(
                [
                    row.name,
                    f"   StorageContainer Name: {row.name}",
                    f"   UUID: {row.uuid}",
                    f"   Array: {row.array}",
                    f"   Size(MB): {row.size_mb}",
                    f"   Free(MB): {row.free_mb}",
                    f"   Accessible: {_b(row.accessible)}",
                    f"   Default Policy: {row.default_policy}",
                    "",
                ]
            )
        )
    return _blocks(blocks)


def storagecontainer_list_json(rows: list[StorageContainerRow]) -> str:
    data = [
        {
            "StorageContainer Name": row.name,
            "UUID": row.uuid,
            "Array": row.array,
            "Size(MB)": row.size_mb,
            "Free(MB)": row.free_mb,
            "Accessible": row.accessible,
            "Default Policy": row.default_policy,
        }
        for row in rows
    ]
    return json.dumps(data, indent=2) + "\n"


# -- protocolendpoint --------------------------------------------------------------------------


def protocolendpoint_list_text(rows: list[ProtocolEndpointRow]) -> str:
    blocks = []
    for row in rows:
        blocks.append(
            "\n".join(
                [
                    row.pe_id,
                    f"   Host Id: {row.pe_id}",
                    f"   Array Id: {row.array_id}",
                    f"   Type: {row.pe_type}",
                    f"   Accessible: {_b(row.accessible)}",
                    f"   Configured: {_b(row.configured)}",
                    f"   Lun Id: {row.pe_id}",
                    f"   Remote Host: {row.remote_host}",
                    f"   Remote Share: {row.remote_share}",
                    f"   Storage Containers: {', '.join(row.containers)}",
                    "",
                ]
            )
        )
    return _blocks(blocks)


def protocolendpoint_list_json(rows: list[ProtocolEndpointRow]) -> str:
    data = [
        {
            "Host Id": row.pe_id,
            "Array Id": row.array_id,
            "Type": row.pe_type,
            "Accessible": row.accessible,
            "Configured": row.configured,
            "Lun Id": row.pe_id,
            "Remote Host": row.remote_host,
            "Remote Share": row.remote_share,
            "Storage Containers": list(row.containers),
        }
        for row in rows
    ]
    return json.dumps(data, indent=2) + "\n"


# -- small ones --------------------------------------------------------------------------------


def hostname_get_text(host: str) -> str:
    """``esxcli system hostname get``: how a renamed bundle still names its host."""
    short, _, domain = host.partition(".")
    return f"   Domain Name: {domain}\n   Fully Qualified Domain Name: {host}\n   Host Name: {short}\n"


def vasacontext_get_text(vcenter_uuid: str) -> str:
    """``esxcli storage vvol vasacontext get``: the vCenter instance UUID (§2.2)."""
    return vcenter_uuid + "\n"


def host_command_files(
    host: str,
    providers: list[VasaProviderRow],
    containers: list[StorageContainerRow],
    endpoints: list[ProtocolEndpointRow],
    vcenter_uuid: str | None = None,
) -> dict[str, bytes]:
    """Every vVol command output of one host, keyed by bundle-relative path (text and JSON)."""
    out: dict[str, bytes] = {}
    pairs = {
        "vasaprovider": (vasaprovider_list_text(providers), vasaprovider_list_json(providers)),
        "storagecontainer": (storagecontainer_list_text(containers), storagecontainer_list_json(containers)),
        "protocolendpoint": (protocolendpoint_list_text(endpoints), protocolendpoint_list_json(endpoints)),
    }
    for key, (text, js) in pairs.items():
        txt_path, json_path = COMMAND_FILES[key]
        out[txt_path] = text.encode()
        out[json_path] = js.encode()
    out[HOSTNAME_FILE] = hostname_get_text(host).encode()
    if vcenter_uuid is not None:
        out[VASACONTEXT_FILE] = vasacontext_get_text(vcenter_uuid).encode()
    return out


# -- a terminal paste --------------------------------------------------------------------------

PUTTY_RULE = "=~=~=~=~=~=~=~=~=~=~=~="


def terminal_paste(
    host: str,
    providers: list[VasaProviderRow],
    containers: list[StorageContainerRow],
    endpoints: list[ProtocolEndpointRow],
    local_time: datetime,
) -> bytes:
    """A PuTTY session log of an admin on ``host`` running the three vVol lists (issue 10 C).

    What a real one carries: the PuTTY header with the analyst's local clock, the ESXi prompt in
    colour (``[root@esx01:~]``, short host name), ``esxcli system hostname get`` first, one list
    with ``--formatter=json`` (one line, as esxcli prints it), a trailing prompt, CRLF line ends.
    """
    short = host.split(".", 1)[0]
    prompt = f"\x1b[01;32m[root@{short}:~]\x1b[0m "
    lines = [
        f"{PUTTY_RULE} PuTTY log {local_time:%Y.%m.%d %H:%M:%S} {PUTTY_RULE}",
        prompt + "esxcli system hostname get",
        hostname_get_text(host).rstrip("\n"),
        prompt + "esxcli storage vvol vasaprovider list",
        vasaprovider_list_text(providers).rstrip("\n"),
        prompt + "esxcli --formatter=json storage vvol protocolendpoint list",
        json.dumps(json.loads(protocolendpoint_list_json(endpoints))),
        prompt + "esxcli storage vvol storagecontainer list",
        storagecontainer_list_text(containers).rstrip("\n"),
        prompt,
    ]
    return "\r\n".join(lines).encode("utf-8")
