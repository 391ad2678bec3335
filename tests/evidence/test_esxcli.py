"""esxcli storage vvol list readers: every formatter gives the same records; damage degrades.

Fixture text follows docs/evidence-formats.md §2.2/§2.3 ([RECONSTRUCTED] shapes built from verified field
names: VP Name, URL, Arrays/ArrayId/Is Active/Priority, Array Id, Lun Id, Storage Containers,
StorageContainer Name, UUID, Array).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from vvolguard.evidence import esxcli
from vvolguard.evidence.sniff import sniff
from vvolguard.evidence.source import from_bytes
from vvolguard.records import (
    ArrayBinding,
    EvidenceKind,
    ProtocolEndpointRecord,
    ProviderRecord,
    StorageContainerRecord,
)

ARRAY = "com.purestorage:2dcf29ad-6aca-4913-b62e-a15875c6635f"
CONTAINER = "vvol:e0ad83893ead3681-b1b7f56a45ff64f1"
CONTAINER2 = "vvol:0123456789abcdef-fedcba9876543210"
PE = "naa.624a93708a75393becad4e43000113e8"

VP_TEXT = f"""VP Name: pure-ct0
   URL: https://10.21.88.113:8084
   Status: Online
   Arrays:
         Array Id: {ARRAY}
         Is Active: true
         Priority: 200

VP Name: pure-ct1
   URL: https://10.21.88.114:8084
   Status: SyncError
   Arrays:
         ArrayId: {ARRAY}
         Is Active: false
         Priority: 100
         ArrayId: com.example:second
         Is Active: true
         Priority: 50
"""

VP_JSON = json.dumps(
    [
        {
            "VP Name": "pure-ct0",
            "URL": "https://10.21.88.113:8084",
            "Status": "online",
            "Arrays": [{"Array Id": ARRAY, "Is Active": True, "Priority": 200}],
        },
        {
            "VP Name": "pure-ct1",
            "URL": "https://10.21.88.114:8084",
            "Status": "syncError",
            "Arrays": [
                {"ArrayId": ARRAY, "Is Active": False, "Priority": 100},
                {"ArrayId": "com.example:second", "Is Active": True, "Priority": 50},
            ],
        },
    ],
    indent=2,
)

PE_TEXT = f"""{PE}
   Host Id: {PE}
   Array Id: {ARRAY}
   Type: SCSI
   Accessible: true
   Configured: true
   Lun Id: {PE}
   Remote Host:
   Remote Share:
   Storage Containers: {CONTAINER}, {CONTAINER2}

naa.624a93708a75393becad4e4300011400
   Host Id: naa.624a93708a75393becad4e4300011400
   Array Id: {ARRAY}
   Type: SCSI
   Accessible: false
   Configured: false
   Lun Id: naa.624a93708a75393becad4e4300011400
   Storage Containers: {CONTAINER}
"""

PE_JSON = json.dumps(
    [
        {
            "Host Id": PE,
            "Array Id": ARRAY,
            "Type": "SCSI",
            "Accessible": True,
            "Configured": True,
            "Lun Id": PE,
            "Remote Host": "",
            "Remote Share": "",
            "Storage Containers": [CONTAINER, CONTAINER2],
        },
        {
            "Host Id": "naa.624a93708a75393becad4e4300011400",
            "Array Id": ARRAY,
            "Type": "SCSI",
            "Accessible": False,
            "Configured": False,
            "Lun Id": "naa.624a93708a75393becad4e4300011400",
            "Storage Containers": CONTAINER,
        },
    ]
)

SC_TEXT = f"""vVol_DS
   StorageContainer Name: vVol_DS
   UUID: {CONTAINER}
   Array: {ARRAY}
   Size(MB): 1048576
   Free(MB): 524288
   Accessible: true
   Default Policy:

vVol_DS2
   StorageContainer Name: vVol_DS2
   UUID: {CONTAINER2}
   Array: {ARRAY}
   Accessible: false
"""

SC_JSON = json.dumps(
    [
        {
            "StorageContainer Name": "vVol_DS",
            "UUID": CONTAINER,
            "Array": ARRAY,
            "Size(MB)": 1048576,
            "Free(MB)": 524288,
            "Accessible": True,
            "Default Policy": "",
        },
        {"StorageContainer Name": "vVol_DS2", "UUID": CONTAINER2, "Array": ARRAY, "Accessible": False},
    ],
    indent=4,
)

VP_XML = f"""<?xml version="1.0" encoding="utf-8"?>
<output xmlns="http://www.vmware.com/Products/ESX/5.0/esxcli">
<root>
   <list type="structure">
      <structure typeName="VasaProvider">
         <field name="Arrays">
            <list type="structure">
               <structure typeName="Array">
                  <field name="ArrayId"><string>{ARRAY}</string></field>
                  <field name="IsActive"><boolean>true</boolean></field>
                  <field name="Priority"><integer>200</integer></field>
               </structure>
            </list>
         </field>
         <field name="Status"><string>online</string></field>
         <field name="URL"><string>https://10.21.88.113:8084</string></field>
         <field name="VPName"><string>pure-ct0</string></field>
      </structure>
   </list>
</root>
</output>
"""

VP_CSV = "Arrays,Status,URL,VPName,\n,online,https://10.21.88.113:8084,pure-ct0,\n"


PEREC, SCREC = ProtocolEndpointRecord, StorageContainerRecord


def read(name: str, data: str | bytes, host: str | None = "esx-01"):
    raw = data.encode() if isinstance(data, str) else data
    ef = from_bytes(name, raw, host=host)
    reader, confidence = sniff(ef)
    assert reader is not None, f"{name} not recognised (best confidence {confidence})"
    return reader, list(reader.read(ef)), ef.warnings


def strip(records):
    return [replace(r, citation=None) for r in records]


EXPECTED_PROVIDERS = [
    ProviderRecord(
        name="pure-ct0",
        url="https://10.21.88.113:8084",
        status="online",
        observer="esx-01",
        arrays=(ArrayBinding(ARRAY, True, 200),),
    ),
    ProviderRecord(
        name="pure-ct1",
        url="https://10.21.88.114:8084",
        status="syncError",
        observer="esx-01",
        arrays=(ArrayBinding(ARRAY, False, 100), ArrayBinding("com.example:second", True, 50)),
    ),
]


def test_vasaprovider_text_gives_typed_records_with_citations():
    reader, records, warnings = read("localcli_storage-vvol-vasaprovider-list.txt", VP_TEXT)
    assert reader.kind == EvidenceKind.VASAPROVIDER_LIST
    assert strip(records) == EXPECTED_PROVIDERS
    assert [(r.citation.line, r.citation.text) for r in records] == [
        (1, "VP Name: pure-ct0"),
        (9, "VP Name: pure-ct1"),
    ]
    assert records[0].citation.file == "localcli_storage-vvol-vasaprovider-list.txt"
    assert warnings == []


def test_vasaprovider_json_twin_equals_text():
    reader, records, warnings = read("localcli_storage-vvol-vasaprovider-list.json", VP_JSON)
    assert reader.kind == EvidenceKind.VASAPROVIDER_LIST
    assert strip(records) == EXPECTED_PROVIDERS
    assert [r.citation.line for r in records] == [2, 14]  # the lines where the objects open
    assert warnings == []


@pytest.mark.parametrize(
    ("text_name", "text", "json_name", "as_json", "kind"),
    [
        (
            "localcli_storage-vvol-protocolendpoint-list.txt",
            PE_TEXT,
            "pe.json",
            PE_JSON,
            ProtocolEndpointRecord,
        ),
        (
            "commands/sc.txt",
            SC_TEXT,
            "localcli_storage-vvol-storagecontainer-list.json",
            SC_JSON,
            StorageContainerRecord,
        ),
    ],
)
def test_text_and_json_twins_give_equal_records(text_name, text, json_name, as_json, kind):
    _, from_text, w1 = read(text_name, text)
    _, from_json, w2 = read(json_name, as_json)
    assert from_text and all(isinstance(r, kind) for r in from_text)
    assert strip(from_text) == strip(from_json)
    assert w1 == [] and w2 == []


def test_protocol_endpoint_fields():
    _, records, _ = read("protocolendpoints.txt", PE_TEXT, host="esx-07")
    first, second = records
    assert first.pe_id == PE and first.host == "esx-07" and first.array_id == ARRAY
    assert first.pe_type == "SCSI" and first.accessible is True and first.configured is True
    assert first.lun_id == PE
    assert first.storage_containers == (CONTAINER, CONTAINER2)  # comma-separated in text
    assert second.accessible is False and second.configured is False
    assert second.citation.line == 12 and second.citation.text == "naa.624a93708a75393becad4e4300011400"


def test_storage_container_fields():
    _, records, _ = read("vvol-containers.txt", SC_TEXT)
    assert strip(records) == [
        StorageContainerRecord("vVol_DS", CONTAINER, "esx-01", ARRAY, True),
        StorageContainerRecord("vVol_DS2", CONTAINER2, "esx-01", ARRAY, False),
    ]


def test_xml_and_csv_formatters():
    _, from_xml, w1 = read("vp.xml", VP_XML)
    assert strip(from_xml) == EXPECTED_PROVIDERS[:1]
    assert from_xml[0].citation.line == 5
    _, from_csv, w2 = read("vp.csv", VP_CSV)
    assert strip(from_csv) == [replace(EXPECTED_PROVIDERS[0], arrays=())]  # CSV flattens lists away
    assert from_csv[0].citation.line == 2
    assert w1 == [] and w2 == []


def test_status_case_tolerant_and_unknown_status_kept():
    text = (
        "VP Name: a\n   Status: OFFLINE\n"
        "VP Name: b\n   Status: sync error\n"
        "VP Name: c\n   Status: Weird-State\n"
    )
    _, records, _ = read("vasaprovider.txt", text)
    assert [r.status for r in records] == ["offline", "syncError", "Weird-State"]


def test_unknown_keys_and_empty_values_tolerated():
    text = "VP Name: pure-ct0\n   URL:\n   Brand New Field: 42\n   Status: online\n"
    _, records, warnings = read("vasaprovider.txt", text)
    assert strip(records) == [ProviderRecord("pure-ct0", None, "online", "esx-01")]
    assert warnings == []


def test_damaged_block_keeps_good_blocks_and_warns_with_line():
    text = VP_TEXT.replace("   Status: SyncError\n", "   \x00\x01\x02garbage\x7f\x00\n   Status: SyncError\n")
    text += "\x00\x00\x00\x00binary\x00junk\n   URL: https://nowhere\n"
    _, records, warnings = read("localcli_storage-vvol-vasaprovider-list.txt", text)
    assert [r.name for r in records] == ["pure-ct0", "pure-ct1"]
    assert records[1].status == "syncError"  # the junk line cost only itself
    lines = sorted(w.line for w in warnings)
    assert lines == [11, 20]
    assert all(w.file == "localcli_storage-vvol-vasaprovider-list.txt" for w in warnings)


def test_block_without_a_name_is_skipped_with_warning():
    text = "   URL: https://orphan:8084\nVP Name: ok\n   Status: online\n"
    _, records, warnings = read("vasaprovider.txt", text)
    assert [r.name for r in records] == ["ok"]
    assert [w.line for w in warnings] == [1]


def test_truncated_json_keeps_complete_entries():
    cut = VP_JSON[: VP_JSON.index('"pure-ct1"') + 5]
    _, records, warnings = read("localcli_storage-vvol-vasaprovider-list.json", cut)
    assert strip(records) == EXPECTED_PROVIDERS[:1]
    assert len(warnings) == 1 and "cut off" in warnings[0].message


def test_wrong_typed_json_fields_degrade_not_fail():
    data = json.dumps(
        [
            {"VP Name": "a", "URL": 5, "Status": ["x"], "Arrays": "not-a-list"},
            {"VP Name": "b", "Arrays": [{"ArrayId": "x", "Is Active": "maybe", "Priority": "high"}, 7]},
            "a string entry",
            {"VP Name": {"nested": True}},
        ]
    )
    _, records, warnings = read("vasaprovider.json", data)
    assert strip(records) == [
        ProviderRecord("a", "5", None, "esx-01"),
        ProviderRecord("b", None, None, "esx-01", arrays=(ArrayBinding("x", None, None),)),
    ]
    assert len(warnings) == 2  # the string entry and the unnamed object


def test_damaged_json_entry_in_the_middle_is_skipped():
    good = VP_JSON.splitlines()
    damaged = "\n".join(line.replace('"Status": "online"', '"Status": online') for line in good)
    _, records, warnings = read("vasaprovider.json", damaged)
    assert [r.name for r in records] == ["pure-ct1"]
    assert len(warnings) == 1 and warnings[0].line == 5


def test_empty_and_binary_files():
    for data in (b"", b"\x00\xff\xfe\x01" * 1000, bytes(range(256)) * 10):
        ef = from_bytes("localcli_storage-vvol-vasaprovider-list.txt", data, host="h")
        assert list(esxcli.VASAPROVIDER_READER.read(ef)) == []
        assert bool(ef.warnings) == bool(data)  # junk is reported, an empty list is not


def test_ten_megabyte_line_is_survived():
    line = "x" * (10 * 1024 * 1024)
    _, records, warnings = read(
        "localcli_storage-vvol-vasaprovider-list.txt", VP_TEXT + line + "\n" + VP_TEXT
    )
    assert [r.name for r in records] == ["pure-ct0", "pure-ct1", "pure-ct0", "pure-ct1"]
    assert len(warnings) == 1 and warnings[0].line == 19
    assert all(len(r.citation.text) <= 400 for r in records)


def test_utf16_powershell_redirect_is_decoded():
    data = "\ufeff".encode("utf-16-le") + VP_TEXT.encode("utf-16-le")
    _, records, _ = read("vasaprovider.txt", data)
    assert strip(records) == EXPECTED_PROVIDERS


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("localcli_storage-vvol-vasaprovider-list.txt", VP_TEXT, EvidenceKind.VASAPROVIDER_LIST),
        ("localcli_storage-vvol-vasaprovider-list.json", VP_JSON, EvidenceKind.VASAPROVIDER_LIST),
        ("output.txt", VP_TEXT, EvidenceKind.VASAPROVIDER_LIST),
        ("output.xml", VP_XML, EvidenceKind.VASAPROVIDER_LIST),
        ("output.csv", VP_CSV, EvidenceKind.VASAPROVIDER_LIST),
        ("localcli_storage-vvol-protocolendpoint-list.txt", PE_TEXT, EvidenceKind.PROTOCOLENDPOINT_LIST),
        ("renamed.json", PE_JSON, EvidenceKind.PROTOCOLENDPOINT_LIST),
        ("localcli_storage-vvol-storagecontainer-list.txt", SC_TEXT, EvidenceKind.STORAGECONTAINER_LIST),
        ("x.json", SC_JSON, EvidenceKind.STORAGECONTAINER_LIST),
        ("localcli_storage-vvol-storagecontainer-list.txt", "", EvidenceKind.STORAGECONTAINER_LIST),
    ],
)
def test_sniffing_picks_the_right_list(name, data, kind):
    ef = from_bytes(name, data.encode(), host="h")
    reader, confidence = sniff(ef)
    assert reader is not None and reader.kind == kind and confidence >= 50


def test_nested_list_of_strings_and_nfs_endpoint():
    text = (
        "192.168.10.20:/vvol-pe\n"
        "   Array Id: com.netapp:abc\n"
        "   Type: NFS\n"
        "   Accessible: true\n"
        "   Configured: true\n"
        "   Remote Host: 192.168.10.20\n"
        "   Remote Share: /vvol-pe\n"
        "   Storage Containers:\n"
        f"         {CONTAINER}\n"
        f"         {CONTAINER2}\n"
    )
    _, (record,), warnings = read("pe.txt", text)
    assert record.pe_id == "192.168.10.20:/vvol-pe" and record.pe_type == "NFS"
    assert record.lun_id is None and record.storage_containers == (CONTAINER, CONTAINER2)
    assert warnings == []
    as_json = json.dumps(
        [
            {
                "Remote Host": "192.168.10.20",
                "Remote Share": "/vvol-pe",
                "Type": "NFS",
                "Storage Containers": [],
            }
        ]
    )
    _, (from_json,), _ = read("pe.json", as_json)
    assert from_json.pe_id == "192.168.10.20:/vvol-pe" and from_json.storage_containers == ()
