"""Property tests: the structured readers never raise, whatever the bytes.

"Never raises" is checked strictly: each reader runs behind a last-resort guard that turns a bug
into an ``internal:`` warning, so a test that only caught exceptions would pass on a buggy reader.
These tests fail on any ``internal:`` warning as well.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vvolguard.evidence import certificates, esxcli, events, providers, tasks
from vvolguard.evidence.csvrows import iter_csv_rows
from vvolguard.evidence.dates import parse_datetime
from vvolguard.evidence.jsonitems import iter_json_items
from vvolguard.evidence.sniff import sniff
from vvolguard.evidence.source import from_bytes
from vvolguard.evidence.textio import decode, read_text
from vvolguard.evidence.warner import Warner
from vvolguard.records import EvidenceKind, EvidenceSpan

READERS = [*esxcli.READERS, *providers.READERS, *tasks.READERS, *events.READERS, *certificates.READERS]


def _cert_pem_and_der() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vp.example.com")])
    now = datetime(2024, 3, 14, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("vp.example.com")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.DER)


CERT_PEM, CERT_DER = _cert_pem_and_der()

#: One real-shaped sample per kind: (file name, bytes, the kind sniffing must pick).
SAMPLES: list[tuple[str, bytes, EvidenceKind]] = [
    (
        "localcli_storage-vvol-vasaprovider-list.txt",
        b"VP Name: pure-ct0\n   URL: https://10.0.0.1:8084\n   Status: online\n   Arrays:\n"
        b"         Array Id: com.purestorage:1\n         Is Active: true\n         Priority: 200\n",
        EvidenceKind.VASAPROVIDER_LIST,
    ),
    (
        "localcli_storage-vvol-vasaprovider-list.json",
        json.dumps(
            [
                {
                    "VP Name": "p",
                    "URL": "https://h:8084",
                    "Status": "online",
                    "Arrays": [{"ArrayId": "a", "Is Active": True}],
                }
            ],
            indent=2,
        ).encode(),
        EvidenceKind.VASAPROVIDER_LIST,
    ),
    (
        "localcli_storage-vvol-protocolendpoint-list.txt",
        b"naa.624a9370\n   Host Id: naa.624a9370\n   Array Id: com.purestorage:1\n   Type: SCSI\n"
        b"   Accessible: true\n   Configured: true\n   Lun Id: naa.624a9370\n"
        b"   Storage Containers: vvol:1-2\n",
        EvidenceKind.PROTOCOLENDPOINT_LIST,
    ),
    (
        "pe.json",
        json.dumps(
            [{"Host Id": "naa.1", "Lun Id": "naa.1", "Accessible": True, "Storage Containers": ["a"]}]
        ).encode(),
        EvidenceKind.PROTOCOLENDPOINT_LIST,
    ),
    (
        "localcli_storage-vvol-storagecontainer-list.txt",
        b"vVol_DS\n   StorageContainer Name: vVol_DS\n   UUID: vvol:1-2\n   Array: com.purestorage:1\n"
        b"   Accessible: true\n",
        EvidenceKind.STORAGECONTAINER_LIST,
    ),
    (
        "vp.xml",
        b'<?xml version="1.0"?>\n<output><root><list type="structure">\n<structure typeName="V">'
        b'<field name="VPName"><string>p</string></field><field name="Arrays"><list type="structure">'
        b'<structure typeName="A"><field name="ArrayId"><string>a</string></field></structure></list>'
        b"</field></structure>\n</list></root></output>\n",
        EvidenceKind.VASAPROVIDER_LIST,
    ),
    (
        "vasaproviders.csv",
        b"#TYPE VMware.VimAutomation.Storage.Types.V1.Sms.VasaProvider\n"
        b'"Name","Status","VasaVersion","LastSyncTime","Url","ProviderId"\n'
        b'"pure-ct0","online","3.5","3/14/2024 10:02:11 AM","https://h:8084","a1"\n',
        EvidenceKind.VASA_PROVIDER_EXPORT,
    ),
    (
        "vp.json",
        json.dumps(
            {
                "Name": "p",
                "Status": "Online",
                "VasaVersion": "3.5",
                "LastSyncTime": "/Date(1710410531000)/",
                "Url": "u",
            }
        ).encode(),
        EvidenceKind.VASA_PROVIDER_EXPORT,
    ),
    (
        "tasks.csv",
        b"Task Name,Target,Status,Details,Initiator,Queued For,Start Time,Completion Time,Server\n"
        b'Relocate virtual machine,vm1,"A general system error occurred: x",,System,1 ms,'
        b'"03/14/2024, 10:02:11 AM","03/14/2024, 10:03:11 AM",vc\n',
        EvidenceKind.VCENTER_TASKS,
    ),
    (
        "get-task.json",
        json.dumps(
            [
                {
                    "Id": "Task-task-1",
                    "Name": "RelocateVM_Task",
                    "State": 3,
                    "StartTime": "2024-03-14T10:02:11Z",
                    "FinishTime": "2024-03-14T10:03:11Z",
                    "PercentComplete": 19,
                    "ExtensionData": {"Info": {"EntityName": "vm1", "EventChainId": 5}},
                }
            ],
            indent=2,
        ).encode(),
        EvidenceKind.VCENTER_TASKS,
    ),
    (
        "events.json",
        json.dumps(
            [
                {
                    "Key": 2,
                    "ChainId": 5,
                    "CreatedTime": "2024-03-14T10:03:11Z",
                    "Vm": {"Name": "vm1"},
                    "Host": {"Name": "esx-01"},
                    "DestHost": {"Name": "esx-02"},
                    "Reason": {"LocalizedMessage": "A system error occurred."},
                    "FullFormattedMessage": "Cannot migrate vm1 from esx-01, ds to esx-02, ds in DC",
                },
                {
                    "Key": 1,
                    "ChainId": 5,
                    "CreatedTime": "2024-03-14T10:02:11Z",
                    "Vm": {"Name": "vm1"},
                    "Host": {"Name": "esx-01"},
                    "DestHost": {"Name": "esx-02"},
                    "FullFormattedMessage": "Migrating vm1 from esx-01, ds to esx-02, ds in DC",
                },
            ],
            indent=2,
        ).encode(),
        EvidenceKind.VCENTER_EVENTS,
    ),
    ("vp.pem", b"subject=CN = vp.example.com\n" + CERT_PEM, EvidenceKind.CERTIFICATE),
    ("vp.der", CERT_DER, EvidenceKind.CERTIFICATE),
    (  # a PuTTY log of several esxcli commands with prompts, colours and CRLF
        "putty.log",
        (
            b"=~=~=~=~=~=~=~=~=~=~=~= PuTTY log 2026.03.14 10:22:01 =~=~=~=~=~=~=~=~=~=~=~=\r\n"
            b"\x1b[01;32m[root@esx-03:~]\x1b[0m esxcli storage vvol vasaprovider list\r\n"
            b"VP Name: pure-ct0\r\n   URL: https://10.21.88.113:8084\r\n   Status: online\r\n"
            b"\x1b[01;32m[root@esx-03:~]\x1b[0m "
            b"esxcli --formatter=json storage vvol protocolendpoint list\r\n"
            b'[{"Lun Id": "naa.624a93708a75393becad4e43000113e8", "Accessible": true}]\r\n'
            b"\x1b[01;32m[root@esx-03:~]\x1b[0m "
        ),
        EvidenceKind.VASAPROVIDER_LIST,
    ),
    (  # Windows PowerShell 5.1: Get-Task | Select-Object ... | ConvertTo-Json > tasks.json
        "tasks.json",
        b"\xff\xfe"
        + (
            '[\r\n    {\r\n        "Id":  "Task-task-901",\r\n        "Name":  "RelocateVM_Task",\r\n'
            '        "State":  "Error",\r\n        "StartTime":  "\\/Date(1773482531000)\\/",\r\n'
            '        "Entity":  "app-01",\r\n'
            '        "Error":  "A general system error occurred."\r\n    }\r\n]'
        ).encode("utf-16-le"),
        EvidenceKind.VCENTER_TASKS,
    ),
    (  # a German vSphere Client export with a maintenance-mode row (headers: unverified guesses)
        "Aufgaben.csv",
        (
            "\ufeffAufgabenname;Ziel;Status;Gestartet;Abgeschlossen\r\n"
            "In den Wartungsmodus wechseln;esx-03;Abgeschlossen;14.03.2026, 11:01:41;14.03.2026, 11:22:11\r\n"
            "Virtuelle Maschine migrieren;app-01;Vorgang ist fehlgeschlagen;14.03.2026, 11:02:11;\r\n"
        ).encode(),
        EvidenceKind.VCENTER_TASKS,
    ),
]

VVOLD_LINES = [
    b"2019-05-16T23:48:21.212Z info vvold[2099041] [Originator@6876 sub=Default] "
    b"SI::QueryVirtualVolumeInt Empty response\n"
    b"--> VasaOp::EventPollerCB [#89845]: ===> Issuing 'getEvents' to VP sn1-m20 (#outstanding 0/5)\n",
    b"2025-08-08T12:17:14.610Z Er(163) VVold[2255518]: [Originator@6876 sub=Default OpId=Session] "
    b"VasaSession::DoSetContext: setContext for VP XXX "
    b"(url: https://XXX:8443/vasa/services/vasaService?version=4) failed [connectionState: TransportError]: "
    b"TRANSPORT_FAULT (Timeout / SSL_connect() failed in tcp_connect())\n",
]


def run_reader(reader, name: str, data: bytes) -> tuple[list, list]:
    ef = from_bytes(name, data, host="esx-01")
    score = reader.sniff(ef.name, ef.head())
    assert 0 <= score <= 100
    records = list(reader.read(ef))
    internal = [w for w in ef.warnings if w.message.startswith("internal")]
    assert not internal, internal
    return records, ef.warnings


@pytest.mark.parametrize(("name", "data", "kind"), SAMPLES, ids=[f"{s[2]}:{s[0]}" for s in SAMPLES])
def test_sniff_picks_the_reader_and_it_reads_records(name, data, kind):
    ef = from_bytes(name, data, host="esx-01")
    reader, confidence = sniff(ef)
    assert reader is not None and reader.kind == kind, (reader, confidence)
    records = list(reader.read(ef))
    assert records, ef.warnings
    cited = [r for r in records if not isinstance(r, EvidenceSpan)]  # a span dates, it cites nothing
    assert cited and all(r.citation is not None and r.citation.file == name for r in cited)
    assert not [w for w in ef.warnings if w.message.startswith("internal")]


@pytest.mark.parametrize("line", VVOLD_LINES)
@pytest.mark.parametrize("name", ["vvold.log", "vvold.0", "evidence.txt", "vasaprovider-notes.txt"])
def test_vvold_log_is_not_claimed(line, name):
    for reader in READERS:
        assert reader.sniff(name, line * 50) <= 30, reader.kind


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4096), name=st.sampled_from([s[0] for s in SAMPLES] + ["x", "a.gz"]))
def test_random_bytes_never_raise(data, name):
    for reader in READERS:
        run_reader(reader, name, data)


def _mutate(data: bytes, ops: list[tuple[int, int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for op, a, b, blob in ops:
        if not out:
            out += blob
            continue
        i, j = sorted((a % len(out), b % len(out)))
        if op == 0:  # truncate
            del out[i:]
        elif op == 1:  # insert junk
            out[i:i] = blob
        elif op == 2:  # delete a slice
            del out[i:j]
        elif op == 3:  # overwrite a byte
            out[i] = blob[0] if blob else 0
        else:  # duplicate a slice
            out[j:j] = out[i:j]
    return bytes(out)


_OPS = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.integers(0, 1 << 16),
        st.integers(0, 1 << 16),
        st.one_of(
            st.binary(min_size=1, max_size=16),
            st.sampled_from(
                [b'"', b"{", b"}", b"[", b"]", b",", b"\n", b":", b"   ", b"\x00", b"\\", b"-----"]
            ),
        ),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.sampled_from(SAMPLES), ops=_OPS)
def test_mutated_real_inputs_never_raise(sample, ops):
    name, data, kind = sample
    mutated = _mutate(data, ops)
    own = next(r for r in READERS if r.kind == kind)
    run_reader(own, name, mutated)
    ef = from_bytes(name, mutated)
    reader, _ = sniff(ef)
    if reader is not None and reader in READERS:
        run_reader(reader, name, mutated)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_json_csv_and_date_helpers_never_raise(text):
    ef = from_bytes("x", b"")
    warn = Warner(ef)
    list(iter_json_items(text, warn))
    parsed = iter_csv_rows(text, warn)
    if parsed is not None:
        list(parsed[1])
    for dayfirst in (None, True, False):
        value, _ = parse_datetime(text, dayfirst)
        assert value is None or value.tzinfo is not None


@pytest.mark.parametrize(
    ("text", "dayfirst", "expected"),
    [
        ("2024-03-14T10:02:11Z", None, datetime(2024, 3, 14, 10, 2, 11, tzinfo=UTC)),
        ("2024-03-14T11:02:11+01:00", None, datetime(2024, 3, 14, 10, 2, 11, tzinfo=UTC)),
        ("/Date(1710410531000)/", None, datetime(2024, 3, 14, 10, 2, 11, tzinfo=UTC)),
        ("\\/Date(1710410531000+0100)\\/", None, datetime(2024, 3, 14, 10, 2, 11, tzinfo=UTC)),
        ("03/14/2024, 10:02:11 AM", None, datetime(2024, 3, 14, 10, 2, 11, tzinfo=UTC)),
        ("3/14/2024 10:02:11 PM", None, datetime(2024, 3, 14, 22, 2, 11, tzinfo=UTC)),
        ("14/03/2024 10:02:11", None, datetime(2024, 3, 14, 10, 2, 11, tzinfo=UTC)),
        ("14.03.2024 10:02:11", None, datetime(2024, 3, 14, 10, 2, 11, tzinfo=UTC)),
        ("02/03/2024 10:02:11", True, datetime(2024, 3, 2, 10, 2, 11, tzinfo=UTC)),
        ("02/03/2024 10:02:11", False, datetime(2024, 2, 3, 10, 2, 11, tzinfo=UTC)),
        ("Mar 14, 2024, 10:02:11 AM", None, datetime(2024, 3, 14, 10, 2, 11, tzinfo=UTC)),
        (
            {"value": "/Date(1710410531000)/", "DateTime": "Thursday, March 14, 2024"},
            None,
            datetime(2024, 3, 14, 10, 2, 11, tzinfo=UTC),
        ),
        ("13/13/2024 10:00:00", None, None),
        ("yesterday", None, None),
        (True, None, None),
    ],
)
def test_dates_from_every_supported_tool(text, dayfirst, expected):
    assert parse_datetime(text, dayfirst)[0] == expected


def test_oversized_file_is_skipped_with_a_warning():
    ef = from_bytes("big.json", b"[" + b'{"a": 1},' * 2000 + b"{}]")
    assert read_text(ef, Warner(ef), limit=1000) is None
    assert ef.warnings and "too big" in ef.warnings[0].message


def test_utf16_without_bom_is_recognised():
    assert decode("VP Name: x\n".encode("utf-16-le")) == "VP Name: x\n"
    assert decode("VP Name: x\n".encode("utf-16-be")) == "VP Name: x\n"
