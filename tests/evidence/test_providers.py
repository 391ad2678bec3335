"""PowerCLI Get-VasaProvider exports (docs/evidence-formats.md §4.1): CSV and JSON, vCenter as observer."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from vvolguard.evidence.providers import VasaProviderExportReader
from vvolguard.evidence.sniff import sniff
from vvolguard.evidence.source import from_bytes
from vvolguard.records import ArrayBinding, EvidenceKind, ProviderRecord

TYPE_LINE = "#TYPE VMware.VimAutomation.Storage.Types.V1.Sms.VasaProvider"
HEADER = (
    '"Name","Status","VasaVersion","LastSyncTime","Namespace","Url","ProviderId","Version","Id","Description"'
)

CSV_US = "\r\n".join(
    [
        TYPE_LINE,
        HEADER,
        '"pure-ct0","online","3.5","3/14/2024 10:02:11 AM","com.purestorage","https://10.21.88.113:8084",'
        '"a1b2","2.0.0","VasaProvider-vasaProvider-3","Pure, ""CT0"""',
        '"pure-ct1","syncError","3.5","3/14/2024 2:05:00 PM","com.purestorage","https://10.21.88.114:8084",'
        '"c3d4","2.0.0","VasaProvider-vasaProvider-4",""',
        "",
    ]
)

CSV_DE = "\n".join(
    [
        '"Name";"Status";"VasaVersion";"LastSyncTime";"Url";"Certificate Expiry Date"',
        '"pure-ct0";"Online";"3.5";"14.03.2024 10:02:11";"https://10.21.88.113:8084";"01.02.2025 00:00:00"',
        '"pure-ct1";"offline";"3.5";"02.03.2024 09:00:00";"https://10.21.88.114:8084";""',
    ]
)

JSON_SINGLE = (
    json.dumps(
        {
            "Name": "pure-ct0",
            "Status": "Online",
            "VasaVersion": "3.5",
            "LastSyncTime": "/Date(1710410531000)/",
            "Namespace": "com.purestorage",
            "Url": "https://10.21.88.113:8084",
            "ProviderId": "a1b2",
            "Version": "2.0.0",
        },
        indent=2,
    )
    .replace("/Date", "\\/Date")
    .replace(")/", ")\\/")
)  # how Windows PowerShell writes dates

JSON_ARRAY = json.dumps(
    [
        {
            "Name": "pure-ct0",
            "Status": {"value": "online"},
            "VasaVersion": "3.5",
            "LastSyncTime": "2024-03-14T11:02:11.4183210+01:00",
            "Url": "https://10.21.88.113:8084",
            "ProviderId": "a1b2",
            "certificateExpiryDate": "2025-02-01T00:00:00Z",
            "certificateStatus": "expirySoftLimitCrossed",
            "relatedStorageArray": [
                {"arrayId": "com.purestorage:2dcf", "active": True, "manageable": True, "priority": 200}
            ],
        },
        {"Name": "pure-ct1", "Status": "SyncError", "Url": "https://10.21.88.114:8084", "ProviderId": "c3d4"},
    ],
    indent=2,
)

T0 = datetime(2024, 3, 14, 10, 2, 11, tzinfo=UTC)


def read(name: str, data: str | bytes):
    raw = data.encode() if isinstance(data, str) else data
    ef = from_bytes(name, raw)
    reader, confidence = sniff(ef)
    assert reader is not None and reader.kind == EvidenceKind.VASA_PROVIDER_EXPORT, (reader, confidence)
    return list(reader.read(ef)), ef.warnings


def test_export_csv_with_type_line_quotes_and_us_dates():
    records, warnings = read("vasaproviders.csv", CSV_US)
    assert [replace(r, citation=None) for r in records] == [
        ProviderRecord(
            name="pure-ct0",
            url="https://10.21.88.113:8084",
            status="online",
            observer="vcenter",
            version="2.0.0",
            vasa_version="3.5",
            last_sync=T0,
        ),
        ProviderRecord(
            name="pure-ct1",
            url="https://10.21.88.114:8084",
            status="syncError",
            observer="vcenter",
            version="2.0.0",
            vasa_version="3.5",
            last_sync=datetime(2024, 3, 14, 14, 5, tzinfo=UTC),
        ),
    ]
    assert [r.citation.line for r in records] == [3, 4]
    assert records[0].citation.text.startswith('"pure-ct0","online"')
    # times without a zone are taken as UTC, and the user is told once
    assert [w.message for w in warnings if "UTC" in w.message] and len(warnings) == 1


def test_semicolon_csv_with_day_first_dates_and_certificate_expiry():
    records, _ = read("export.csv", CSV_DE)
    assert [r.status for r in records] == ["online", "offline"]
    assert records[0].last_sync == T0
    assert records[1].last_sync == datetime(2024, 3, 2, 9, 0, tzinfo=UTC)  # day first, from the column
    assert records[0].certificate_expiry == datetime(2025, 2, 1, tzinfo=UTC)
    assert records[1].certificate_expiry is None


def test_json_single_object_with_ms_date():
    records, warnings = read("vp.json", JSON_SINGLE)
    assert len(records) == 1
    assert records[0].last_sync == datetime.fromtimestamp(1710410531, UTC)
    assert records[0].status == "online" and records[0].observer == "vcenter"
    assert records[0].citation.line == 1
    assert warnings == []


def test_json_array_with_sms_extras_and_enum_object():
    records, warnings = read("Get-VasaProvider.json", JSON_ARRAY)
    first, second = records
    assert first.status == "online"
    # +01:00 converted to UTC; the 7-digit .NET fraction is cut to microseconds
    assert first.last_sync == T0.replace(microsecond=418321)
    assert first.certificate_expiry == datetime(2025, 2, 1, tzinfo=UTC)
    assert first.certificate_status == "expirySoftLimitCrossed"
    assert first.arrays == (ArrayBinding("com.purestorage:2dcf", True, 200),)
    assert second.status == "syncError" and second.last_sync is None
    assert [r.citation.line for r in records] == [2, 22]
    assert warnings == []


def test_utf16_redirected_json_is_read():
    data = "\ufeff".encode("utf-16-le") + JSON_ARRAY.encode("utf-16-le")
    records, _ = read("vp.json", data)
    assert [r.name for r in records] == ["pure-ct0", "pure-ct1"]


def test_damaged_inputs_warn_and_keep_the_rest():
    reader = VasaProviderExportReader()
    cut = JSON_ARRAY[: JSON_ARRAY.index('"pure-ct1"')]
    bad_date = JSON_ARRAY.replace("2024-03-14T11:02:11.4183210+01:00", "yesterday-ish")
    cases = {
        "truncated": (cut, ["pure-ct0"]),
        "bad date": (bad_date, ["pure-ct0", "pure-ct1"]),
        "nameless": (json.dumps([{"Status": "online"}, {"Name": "x", "Url": 3}]), ["x"]),
        "empty": ("", []),
        "junk": ("\x00\x01garbage\xff" * 100, []),
        "extra cells": (HEADER + '\n"a","online",1,2,3,4,5,6,7,8,9,10\n', ["a"]),
    }
    for label, (data, names) in cases.items():
        ef = from_bytes("vp.json", data.encode())
        records = list(reader.read(ef))
        assert [r.name for r in records] == names, label
        assert ef.warnings, label


@pytest.mark.parametrize("data", [CSV_US, CSV_DE, JSON_SINGLE, JSON_ARRAY])
def test_sniffed_as_provider_export_even_when_renamed(data):
    ef = from_bytes("export-2024-03-14.txt", data.encode())
    reader, confidence = sniff(ef)
    assert reader is not None and reader.kind == EvidenceKind.VASA_PROVIDER_EXPORT and confidence >= 80


def test_export_made_by_the_command_vvolguard_suggests():
    """Get-VasaProvider -Refresh | Select-Object Name, Url, Version, VasaVersion, Status | Export-Csv"""
    data = '"Name","Url","Version","VasaVersion","Status"\n"pure-ct0","https://10.21.88.113:8084","2.0.0","3.5","online"\n'
    ef = from_bytes("out.csv", data.encode())
    reader, _ = sniff(ef)
    assert reader is not None and reader.kind == EvidenceKind.VASA_PROVIDER_EXPORT
    (record,) = reader.read(ef)
    assert (record.name, record.version, record.vasa_version, record.status) == (
        "pure-ct0",
        "2.0.0",
        "3.5",
        "online",
    )
