"""Terminal pastes: esxcli and PowerCLI outputs as admins copy them, prompts and all.

The prompt says which command printed the lines below it and which host it ran on; a PuTTY log
header dates the snapshot. The outputs follow docs/evidence-formats.md §2.2/§2.3 [RECONSTRUCTED], the
prompts are the shapes ESXi shells print (``[root@esx-03:~]``, ``root@esx03:~ #``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from vvolguard.evidence import transcript
from vvolguard.evidence.esxcli import bundle_time
from vvolguard.evidence.sniff import sniff
from vvolguard.evidence.source import from_bytes
from vvolguard.pipeline import diagnose
from vvolguard.records import (
    EvidenceKind,
    EvidenceSpan,
    MigrationTask,
    ProtocolEndpointRecord,
    ProviderRecord,
    StorageContainerRecord,
)

ARRAY = "com.purestorage:2dcf29ad-6aca-4913-b62e-a15875c6635f"
CONTAINER = "vvol:e0ad83893ead3681-b1b7f56a45ff64f1"
PE = "naa.624a93708a75393becad4e43000113e8"
GREEN, RESET = "\x1b[01;32m", "\x1b[0m"

PASTE = f"""=~=~=~=~=~=~=~=~=~=~=~= PuTTY log 2026.03.14 10:22:01 =~=~=~=~=~=~=~=~=~=~=~=
{GREEN}[root@esx-03:~]{RESET} esxcli storage vvol vasaprovider list
VP Name: pure-ct0
   URL: https://10.21.88.113:8084
   Status: offline
   Arrays:
         Array Id: {ARRAY}
         Is Active: true
         Priority: 200

{GREEN}[root@esx-03:~]{RESET} esxcli storage vvol protocolendpoint list
{PE}
   Host Id: {PE}
   Array Id: {ARRAY}
   Type: SCSI
   Accessible: false
   Configured: true
   Lun Id: {PE}
   Storage Containers: {CONTAINER}

{GREEN}[root@esx-03:~]{RESET} esxcli --formatter=json storage vvol storagecontainer list
[{{"StorageContainer Name": "vVol_DS", "UUID": "{CONTAINER}", "Array": "{ARRAY}", "Accessible": true}}]
{GREEN}[root@esx-03:~]{RESET} vmware -vl
VMware ESXi 8.0.2 build-22380479
{GREEN}[root@esx-03:~]{RESET} """


def read_paste(text: str, name: str = "putty.log", tz=None, crlf: bool = True):
    data = (text.replace("\n", "\r\n") if crlf else text).encode()
    ef = from_bytes(name, data)
    ef.assume_tz = tz
    reader, confidence = sniff(ef)
    assert reader is not None, ef.warnings
    return list(reader.read(ef)), ef, confidence


def test_several_commands_in_one_putty_log_each_read_by_its_own_parser():
    records, ef, confidence = read_paste(PASTE)
    assert confidence >= 90 and ef.kind == EvidenceKind.VASAPROVIDER_LIST
    providers = [r for r in records if isinstance(r, ProviderRecord)]
    pes = [r for r in records if isinstance(r, ProtocolEndpointRecord)]
    containers = [r for r in records if isinstance(r, StorageContainerRecord)]
    assert [(p.name, p.status, p.observer) for p in providers] == [("pure-ct0", "offline", "esx-03")]
    assert [(p.pe_id, p.accessible, p.host) for p in pes] == [(PE, False, "esx-03")]
    assert [(c.name, c.uuid, c.host, c.accessible) for c in containers] == [
        ("vVol_DS", CONTAINER, "esx-03", True)
    ]
    # citations point at the lines of the file, not of the section
    lines = PASTE.split("\n")
    assert lines[providers[0].citation.line - 1] == "VP Name: pure-ct0"
    assert lines[pes[0].citation.line - 1] == PE
    assert lines[containers[0].citation.line - 1].startswith('[{"StorageContainer Name"')
    # the output of `vmware -vl` is not an esxcli list and gives no warning about it
    assert not [w for w in ef.warnings if "VMware ESXi" in w.message]


def test_putty_header_dates_the_snapshot_and_tz_moves_it():
    records, ef, _ = read_paste(PASTE)
    spans = [r for r in records if isinstance(r, EvidenceSpan)]
    assert {s.kind for s in spans} == {
        EvidenceKind.VASAPROVIDER_LIST,
        EvidenceKind.PROTOCOLENDPOINT_LIST,
        EvidenceKind.STORAGECONTAINER_LIST,
    }
    assert all(s.start == s.end == datetime(2026, 3, 14, 10, 22, 1, tzinfo=UTC) for s in spans)
    assert all(s.host == "esx-03" and s.file == "putty.log" for s in spans)
    assert [(w.line, w.caveat) for w in ef.warnings if "no time zone" in w.message] == [(1, True)]

    records, ef, _ = read_paste(PASTE, tz=ZoneInfo("Europe/Berlin"))
    spans = [r for r in records if isinstance(r, EvidenceSpan)]
    assert {s.start for s in spans} == {datetime(2026, 3, 14, 9, 22, 1, tzinfo=UTC)}  # CET is UTC+1
    assert any("taken as Europe/Berlin" in w.message for w in ef.warnings)


def test_other_prompt_shapes_and_esxcli_server_option():
    text = f"""root@esx07:~ # esxcli storage vvol vasaprovider list
VP Name: vp-a
   URL: https://vp-a:8443
   Status: online
admin@jumphost:~$ esxcli --server esx-08.lab.local --username root storage vvol vasaprovider list
VP Name: vp-a
   URL: https://vp-a:8443
   Status: syncError
$ esxcli storage vvol protocolendpoint list
{PE}
   Lun Id: {PE}
   Accessible: true
"""
    records, _ef, _ = read_paste(text, crlf=False)
    seen = [(type(r).__name__, getattr(r, "observer", None) or getattr(r, "host", None)) for r in records]
    assert seen == [
        ("ProviderRecord", "esx07"),
        ("ProviderRecord", "esx-08.lab.local"),  # --server names the host, not the jump host's prompt
        ("ProtocolEndpointRecord", None),  # "$ " names no host
    ]


def test_output_with_only_a_trailing_prompt_takes_its_host():
    text = "VP Name: vp-a\n   URL: https://vp-a:8443\n   Status: online\n[root@esx-11:~] \n"
    records, _ef, _ = read_paste(text, name="vp.txt")
    assert [(r.name, r.observer) for r in records if isinstance(r, ProviderRecord)] == [("vp-a", "esx-11")]


def test_hostname_command_gives_the_full_name():
    text = """[root@esx-12:~] esxcli system hostname get
   Domain Name: lab.local
   Fully Qualified Domain Name: esx-12.lab.local
   Host Name: esx-12
[root@esx-12:~] esxcli storage vvol vasaprovider list
VP Name: vp-a
   Status: online
"""
    records, _ef, _ = read_paste(text)
    assert [r.observer for r in records if isinstance(r, ProviderRecord)] == ["esx-12.lab.local"]


def test_date_command_dates_the_snapshot_in_utc():
    text = """[root@esx-12:~] date
Sat Mar 14 10:30:00 UTC 2026
[root@esx-12:~] esxcli storage vvol vasaprovider list
VP Name: vp-a
   Status: online
"""
    records, ef, _ = read_paste(text)
    spans = [r for r in records if isinstance(r, EvidenceSpan)]
    assert [(s.start, s.host) for s in spans] == [(datetime(2026, 3, 14, 10, 30, tzinfo=UTC), "esx-12")]
    assert not [w for w in ef.warnings if "time zone" in w.message]


def test_localhost_prompt_names_no_host():
    text = "[root@localhost:~] esxcli storage vvol vasaprovider list\nVP Name: vp-a\n   Status: online\n"
    records, _, _ = read_paste(text)
    assert [r.observer for r in records if isinstance(r, ProviderRecord)] == [None]


def test_bundle_member_is_dated_by_the_bundle_name():
    assert bundle_time("case/esx-esx03.lab-2026-03-14--10.22-2815455.tgz!commands/x.txt") == datetime(
        2026, 3, 14, 10, 22, tzinfo=UTC
    )
    assert bundle_time("/tmp/esx-h1-2026-03-14--09.05/commands/localcli_storage-vvol-x.txt") == datetime(
        2026, 3, 14, 9, 5, tzinfo=UTC
    )
    assert bundle_time("vp.txt") is None
    ef = from_bytes(
        "esx-h1-2026-03-14--09.05-1.tgz!commands/localcli_storage-vvol-vasaprovider-list.txt",
        b"VP Name: vp-a\n   Status: online\n",
        host="h1",
    )
    reader, _ = sniff(ef)
    spans = [r for r in reader.read(ef) if isinstance(r, EvidenceSpan)]
    assert [(s.host, s.start, s.kind) for s in spans] == [
        ("h1", datetime(2026, 3, 14, 9, 5, tzinfo=UTC), EvidenceKind.VASAPROVIDER_LIST)
    ]


def test_powershell_prompt_before_a_get_task_export():
    tasks = [
        {
            "Id": "Task-task-501",
            "Name": "RelocateVM_Task",
            "State": "Error",
            "StartTime": "2026-03-14T10:02:11Z",
            "FinishTime": "2026-03-14T10:04:13Z",
            "Entity": "app-01",
            "Error": "A general system error occurred: Source detected that destination failed to resume.",
            "PercentComplete": 100,
        }
    ]
    text = "PS C:\\Users\\admin> Get-Task | Select-Object * | ConvertTo-Json\n" + json.dumps(tasks, indent=4)
    text += "\nPS C:\\Users\\admin> "
    records, ef, _confidence = read_paste(text, name="session.txt")
    assert ef.kind == EvidenceKind.VCENTER_TASKS
    (task,) = records
    assert isinstance(task, MigrationTask)
    assert (task.task_id, task.vm, task.error) == (
        "task-501",
        "app-01",
        "A general system error occurred: Source detected that destination failed to resume.",
    )
    assert task.citation.line == 3  # the object's opening line in the file (prompt, "[", "{")


def test_plain_outputs_are_not_taken_for_transcripts():
    """Text without prompts goes through unchanged (and `# ` headings are not prompts)."""
    plain = "# VASA providers\nVP Name: vp-a\n   Status: online\n"
    assert transcript.parsed_head(plain) is None
    assert transcript.output_head(plain) == plain
    assert transcript.prompt("   URL: https://root@vp:8443") is None
    assert transcript.prompt('[{"VP Name": "a@b:c"}]') is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "[root@esx-03:~] esxcli storage vvol vasaprovider list",
            ("esxi", "esx-03", "esxcli storage vvol vasaprovider list"),
        ),
        ("[root@esx-03.lab.local:/tmp] ", ("esxi", "esx-03.lab.local", "")),
        (
            "root@esx03:~ # localcli storage vvol protocolendpoint list",
            ("posix", "esx03", "localcli storage vvol protocolendpoint list"),
        ),
        (
            "$ esxcli storage vvol storagecontainer list",
            ("posix", None, "esxcli storage vvol storagecontainer list"),
        ),
        (
            "PS C:\\> Get-VasaProvider | ConvertTo-Json",
            ("powershell", None, "Get-VasaProvider | ConvertTo-Json"),
        ),
        ("PS /home/admin> Get-Task", ("powershell", None, "Get-Task")),
        ("# esxcli storage vvol vasaprovider list", ("posix", None, "esxcli storage vvol vasaprovider list")),
        ("# Heading", None),
    ],
)
def test_prompt_shapes(line, expected):
    assert transcript.prompt(line) == expected


@pytest.mark.parametrize(
    ("command", "namespace"),
    [
        ("esxcli storage vvol vasaprovider list", "vasaprovider"),
        ("esxcli --formatter=json storage vvol protocolendpoint list", "protocolendpoint"),
        ("esxcli --formatter csv storage vvol storagecontainer list", "storagecontainer"),
        ("/bin/localcli storage vvol vasaprovider list | tee /tmp/x", "vasaprovider"),
        ("esxcli -s esx-01 -u root storage vvol vasaprovider list", "vasaprovider"),
        ("esxcli storage vvol vasacontext get", None),
        ("grep vvol /var/log/vvold.log", None),
    ],
)
def test_esxcli_command_lines(command, namespace):
    assert transcript.vvol_namespace(command) == namespace


def test_diagnose_names_the_prompt_host_not_an_unnamed_one(tmp_path: Path):
    (tmp_path / "putty.log").write_bytes(PASTE.replace("\n", "\r\n").encode())
    result = diagnose([tmp_path / "putty.log"], now=datetime(2026, 3, 15, tzinfo=UTC))
    (inp,) = result.inputs
    assert inp.records >= 3 and inp.host is None
    from vvolguard.report.jsonout import to_json

    document = json.loads(to_json(result))
    assert "unnamed-esxi-host" not in json.dumps(document)
    assert "esx-03" in json.dumps(document["providers"])


def test_csv_and_xml_formatters_after_prompts_and_colour_without_prompt():
    text = (
        "[root@esx-21:~] esxcli --formatter=csv storage vvol vasaprovider list\n"
        "VPName,URL,Status,\n"
        "vp-a,https://vp-a:8443,offline,\n"
        "[root@esx-21:~] esxcli --formatter=xml storage vvol storagecontainer list\n"
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<output xmlns="http://www.vmware.com/Products/ESX/5.0/esxcli"><root><list type="structure">\n'
        '<structure typeName="StorageContainer">'
        '<field name="StorageContainerName"><string>ds1</string></field>\n'
        f'<field name="UUID"><string>{CONTAINER}</string></field></structure>\n'
        "</list></root></output>\n"
    )
    records, ef, _ = read_paste(text)
    assert [(type(r).__name__, r.name) for r in records] == [
        ("ProviderRecord", "vp-a"),
        ("StorageContainerRecord", "ds1"),
    ]
    assert records[0].status == "offline" and records[0].observer == "esx-21"
    assert records[1].host == "esx-21" and records[1].uuid == CONTAINER
    assert not ef.warnings

    coloured = f"{GREEN}VP Name: vp-b{RESET}\n   Status: {GREEN}online{RESET}\n"
    records, ef, _ = read_paste(coloured, name="vp.txt", crlf=False)
    assert [(r.name, r.status) for r in records] == [("vp-b", "online")]
    assert not ef.warnings


def test_powershell_start_transcript_header_and_footer():
    tasks = [
        {
            "Id": "Task-task-7",
            "Name": "RelocateVM_Task",
            "State": "Success",
            "Entity": "app-7",
            "StartTime": "2026-03-14T10:02:11Z",
            "FinishTime": "2026-03-14T10:03:11Z",
        }
    ]
    text = "\n".join(
        [
            "**********************",
            "Windows PowerShell transcript start",
            "Start time: 20260314112201",
            "Username: CORP\\admin",
            "**********************",
            "Transcript started, output file is C:\\case\\session.txt",
            "PS C:\\case> Get-Task | Select-Object * | ConvertTo-Json",
            json.dumps(tasks, indent=2),
            "PS C:\\case> Stop-Transcript",
            "**********************",
            "Windows PowerShell transcript end",
            "End time: 20260314112301",
            "**********************",
        ]
    )
    records, ef, _ = read_paste(text, name="session.txt")
    assert ef.kind == EvidenceKind.VCENTER_TASKS
    assert [(r.task_id, r.vm) for r in records] == [("task-7", "app-7")]
    assert not [w for w in ef.warnings if "nothing read" in w.message or "JSON" in w.message]
