"""Incidents from the red-team trial of 2026-12-03: evidence as a tired admin hands it over, each
with the answer an expert would sign. Shapes and their markings:

* vvold lines: the one-line 7.0 form of the GetFreeConn wait of docs/evidence-formats.md §1.7
  [RECONSTRUCTED there]; the pasted forms around them are CONSTRUCTED;
* the vSphere Client Tasks CSV: the column set of §4.4 [RECONSTRUCTED there]; the Japanese and
  French labels are CONSTRUCTED guesses (no localised sample is public);
* ``Get-VIEvent | Format-Table``: PowerShell's table layout around the VmFailedMigrateEvent /
  VmMigratedEvent messages of §4.3 (the latter VERBATIM in shape, the former CONSTRUCTED);
* esxcli ``--formatter=keyvalue``: esxcli's documented key=value formatter with the field names
  of §2.1 [CONSTRUCTED: no vvol sample of this formatter is public].
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from vvolguard.analysis.model import Diagnosis
from vvolguard.pipeline import diagnose

NOW = datetime(2026, 3, 20, tzinfo=UTC)

WAIT_MSG = (
    "VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.21.88.113:8084/vasa) "
    "[#outstanding 5/5] - waiting"
)
TIMES = (
    "2026-03-14T10:10:05.100Z",
    "2026-03-14T10:10:06.100Z",
    "2026-03-14T10:10:40.100Z",
    "2026-03-14T10:11:30.100Z",
)
WAITS = "".join(
    f"{ts} warning vvold[2099154] [Originator@6876 sub=Default OpId=a{n}] {WAIT_MSG}\n"
    for n, ts in enumerate(TIMES)
)


def _case(tmp_path: Path, files: dict[str, str | bytes]) -> Diagnosis:
    for name, data in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    return diagnose([tmp_path], now=NOW)


def _cited(d: Diagnosis) -> set[tuple[str, int]]:
    return {(c.file.rsplit("/", 1)[-1], c.line) for f in d.findings for c in f.citations}


JA_TASKS = (
    "\ufeff"
    '"タスク名","ターゲット","ステータス","開始者","キュー時間","開始時刻","完了時刻","サーバ"\n'
    '"仮想マシンの再配置","app-01","システム エラーが発生しました。","CORP\\jdoe","3 ms",'
    '"2026/03/14 10:10:01","2026/03/14 10:11:41","vcsa01.corp.local"\n'
    '"仮想マシンの再配置","app-03","システム エラーが発生しました。","CORP\\jdoe","3 ms",'
    '"2026/03/14 10:10:02","2026/03/14 10:11:44","vcsa01.corp.local"\n'
)

FORMAT_TABLE_EVENTS = """
CreatedTime          FullFormattedMessage
-----------          --------------------
14.03.2026 10:11:41  Failed to migrate app-01 from esx-07.corp.local, vvol-ds01 to esx-08.corp.local...
14.03.2026 10:11:44  Failed to migrate app-03 from esx-07.corp.local, vvol-ds01 to esx-08.corp.local...
14.03.2026 10:10:52  Migration of virtual machine app-02 from esx-07.corp.local, vvol-ds01 to esx-08.cor...


"""


def test_a_task_list_no_reader_knows_is_not_read_as_no_failures(tmp_path: Path) -> None:
    """A Japanese client's CSV next to vvold waits: before, the CSV was skipped and the verdict was
    "healthy: no failed migration in the evidence" while the CSV listed two failures."""
    d = _case(tmp_path, {"vvold-esx-07.txt": WAITS, "tasks.csv": JA_TASKS})
    assert d.verdict.cls == "insufficient-evidence", d.verdict.summary
    assert "tasks.csv could not be read" in d.verdict.summary
    assert ("vvold-esx-07.txt", 1) in _cited(d)  # the waits are still shown


def test_get_vievent_format_table_is_read(tmp_path: Path) -> None:
    """``Get-VIEvent | Select CreatedTime, FullFormattedMessage | Format-Table`` as pasted, messages
    cut by the console. Before: unknown format and, with vvold waits next to it, "healthy"."""
    d = _case(tmp_path, {"vvold-esx-07.txt": WAITS, "events.txt": FORMAT_TABLE_EVENTS})
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert sorted(f.vm for f in d.migrations.failed) == ["app-01", "app-03"]
    assert {("events.txt", 4), ("events.txt", 5)} <= _cited(d)


def test_a_note_without_dates_does_not_hold_back_healthy(tmp_path: Path) -> None:
    """The guard is for dated rows only: an admin's note next to a calm vvold stays healthy."""
    polls = "".join(
        f"2026-03-14T10:{m:02d}:00.000Z info vvold[2099154] [Originator@6876 sub=Default] "
        f"VasaOp::EventPollerCB [#{m}]: ===> FINAL SUCCESS getEvents VP (pure-ct0) Container (N/A) "
        "timeElapsed=12 msecs (#outstanding 0)\n"
        for m in range(0, 30)
    )
    d = _case(
        tmp_path, {"vvold-esx-07.log": polls, "notes.txt": "customer says all fine now\nplease check\n"}
    )
    assert d.verdict.cls == "healthy", d.verdict.summary


TASKS = (
    '"Task Name","Target","Status","Initiator","Queued For","Start Time","Completion Time","Server"\n'
    '"Relocate virtual machine","app-01","A system error occurred.","CORP\\jdoe","3 ms",'
    '"3/14/2026 10:10:01 AM","3/14/2026 10:11:41 AM","vcsa01.corp.local"\n'
    '"Relocate virtual machine","app-03","A system error occurred.","CORP\\jdoe","3 ms",'
    '"3/14/2026 10:10:02 AM","3/14/2026 10:11:44 AM","vcsa01.corp.local"\n'
    '"Enter maintenance mode","esx-07.corp.local","Completed","CORP\\jdoe","3 ms",'
    '"3/14/2026 10:09:58 AM","3/14/2026 10:30:00 AM","vcsa01.corp.local"\n'
)


def test_an_esxcli_paste_from_teams_with_no_break_spaces_shows_the_provider(tmp_path: Path) -> None:
    """Teams/Outlook turn the indent of a pasted esxcli list into no-break spaces (&nbsp;). Before:
    every field read as a record of its own, "VASA provider record without a name", and the
    syncError was not seen (insufficient-evidence)."""
    nbsp = "\u00a0" * 3
    paste = (
        "[root@esx-07:~] esxcli storage vvol vasaprovider list\n"
        "VP Name: array01-vp\n"
        f"{nbsp}URL: https://vp01.corp.local:8443/vasa/version.xml\n"
        f"{nbsp}Status: syncError\n"
        f"{nbsp}Arrays:\n"
        f"{nbsp * 3}Array Id: com.vendor:abc123\n"
        f"{nbsp * 3}Is Active: true\n"
    )
    d = _case(tmp_path, {"esxcli.txt": paste, "tasks.csv": TASKS})
    assert d.verdict.cls == "provider-registration", d.verdict.summary
    assert "array01-vp is syncError" in d.verdict.summary
    assert ("esxcli.txt", 2) in _cited(d)
    assert not [w for w in d.warnings if "without a name" in w.message]


def test_a_bundle_zipped_by_windows_powershell_with_backslash_paths_names_its_host(tmp_path: Path) -> None:
    """Windows PowerShell 5.1's Compress-Archive writes '\\' between path parts. Before: the bundle
    was not seen as one, its vvold.log belonged to no host, and the failures on esx-07 were
    "not covered" (insufficient-evidence)."""
    import io
    import zipfile

    root = "esx-esx-07.corp.local-2026-03-14--10.22-2815455"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(root + "\\var\\run\\log\\vvold.log", WAITS)
        z.writestr(
            root + "\\commands\\localcli_storage-vvol-vasaprovider-list.txt",
            "VP Name: pure-ct0\n   URL: https://10.21.88.113:8084\n   Status: online\n",
        )
    d = _case(tmp_path, {"esx-07-logs.zip": buf.getvalue(), "tasks.csv": TASKS})
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert "esx-07.corp.local -> pure-ct0" in d.verdict.summary
    assert any(c.file.endswith(f"{root}/var/run/log/vvold.log") for f in d.findings for c in f.citations)


GET_TASK_FORMAT_LIST = """
PS C:\\> Get-Task | ? Name -like 'Relocate*' | Format-List Name, State, StartTime, FinishTime, Id

Name       : RelocateVM_Task
State      : Error
StartTime  : 3/14/2026 10:10:01 AM
FinishTime : 3/14/2026 10:11:41 AM
Id         : Task-task-9001

Name       : RelocateVM_Task
State      : Success
StartTime  : 3/14/2026 10:10:02 AM
FinishTime : 3/14/2026 10:10:52 AM
Id         : Task-task-9002

Name       : RelocateVM_Task
State      : Error
StartTime  : 3/14/2026 10:10:02 AM
FinishTime : 3/14/2026 10:11:44 AM
Id         : Task-task-9003

"""


def test_get_task_pasted_from_the_powercli_console_as_format_list(tmp_path: Path) -> None:
    """``Get-Task | Format-List`` (property names of §4.2, the layout CONSTRUCTED from PowerShell's
    list view). Before: unknown format, and with vvold waits next to it "healthy"."""
    d = _case(tmp_path, {"vvold-esx-07.txt": WAITS, "gettask.txt": GET_TASK_FORMAT_LIST})
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert d.migrations.total == 3 and len(d.migrations.failed) == 2
    assert {("gettask.txt", 4), ("gettask.txt", 16)} <= _cited(d)  # each failed task's block


GET_VASAPROVIDER_TABLE = """
PS C:\\> Get-VasaProvider

Name                 Status       VasaVersion LastSyncTime           Namespace            Url
----                 ------       ----------- ------------           ---------            ---
array01-vp           offline      3.0         3/14/2026 9:58:12 AM   com.vendor           https://vp01.corp.local:8443/vasa/version.xml
IOFILTER Provider... online       1.5         3/14/2026 10:01:40 AM  IOFILTERVP           https://esx-07.corp.local:9080/version.xml

"""

GET_VASAPROVIDER_LIST = """
PS C:\\> Get-VasaProvider -Refresh | Format-List *

Status                   : syncError
VasaVersion              : 3.0
Namespace                : com.vendor
Version                  : 2.1.0
LastSyncTime             : 3/14/2026 9:58:12 AM
ProviderType             : VASA
Url                      : https://vp01.corp.local:8443/vasa/services/vasaService?version=4&client=vc-
                           prod-01
Description              :
ProviderId               : 7d3a9e52-8d1f-4b6c-9f0e-2b6a4c1e5d77
Name                     : array01-vp
Id                       : VasaProvider-vasaprovider-3
Uid                      : /VIServer=jdoe@vcsa01:443/VasaProvider=VasaProvider-vasaprovider-3/

"""


def test_get_vasaprovider_default_table_shows_the_provider_offline(tmp_path: Path) -> None:
    """``Get-VasaProvider`` typed at a PowerCLI prompt prints a table (properties of §4.1, layout
    CONSTRUCTED). Before: unknown format and insufficient-evidence."""
    d = _case(tmp_path, {"providers.txt": GET_VASAPROVIDER_TABLE, "tasks.csv": TASKS})
    assert d.verdict.cls == "provider-registration", d.verdict.summary
    assert "array01-vp is offline" in d.verdict.summary
    cited = {c.line: c.text for f in d.findings for c in f.citations if c.file.endswith("providers.txt")}
    assert cited[6].startswith("array01-vp           offline")


def test_the_runbooks_get_vasaprovider_format_list_star_shows_sync_error(tmp_path: Path) -> None:
    """The runbook's own command, ``Get-VasaProvider -Refresh | Format-List *``, with a URL wrapped
    onto the next line as the console does. Before: unknown format and insufficient-evidence."""
    d = _case(tmp_path, {"providers.txt": GET_VASAPROVIDER_LIST, "tasks.csv": TASKS})
    assert d.verdict.cls == "provider-registration", d.verdict.summary
    assert "array01-vp is syncError" in d.verdict.summary
    (provider,) = [p for p in d.providers if p.name == "array01-vp"]
    assert "client=vc-prod-01" in (provider.url or "")


# -- shapes diagnose already read right on 2026-12-03, kept as regression tests --------------------


def test_a_bundle_with_only_rotated_logs_one_of_them_cut_short(tmp_path: Path) -> None:
    """``vvold.0.gz`` .. ``vvold.2.gz`` and no live vvold.log (the bundle was taken after a
    rotation), the oldest truncated by a full scratch partition (rotation scheme of §1.1)."""
    import gzip
    import io
    import tarfile

    root = "esx-esx-07.corp.local-2026-03-14--10.22-2815455"
    older = "".join(
        f"2026-03-14T09:5{i}:00.000Z warning vvold[2099154] [Originator@6876 sub=Default] {WAIT_MSG}\n"
        for i in range(3)
    )
    cut = gzip.compress((older * 200).encode())[:300]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in {
            "vvold.0.gz": gzip.compress(WAITS.encode()),
            "vvold.1.gz": gzip.compress(older.encode()),
            "vvold.2.gz": cut,
        }.items():
            info = tarfile.TarInfo(f"{root}/var/run/log/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    d = _case(tmp_path, {root + ".tgz": buf.getvalue(), "tasks.csv": TASKS})
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert "esx-07.corp.local -> pure-ct0" in d.verdict.summary
    assert any(c.file.endswith("vvold.0.gz") and c.line == 1 for f in d.findings for c in f.citations)
    (damage,) = [w for w in d.warnings if w.file.endswith("vvold.2.gz")]
    assert "truncated" in damage.message


def test_lines_quoted_in_a_vendor_kb_with_parts_elided(tmp_path: Path) -> None:
    """A KB quotes the waits with ``...`` and ``…`` for what it left out (metadata, the URL)."""
    quoted = (
        f"{TIMES[0]} warning vvold[2099154] [Originator@6876 sub=Default] VasaSession::GetFreeConn: "
        "No free connections to VP pure-ct0 ... [#outstanding 5/5] - waiting\n"
        f"{TIMES[1]} warning vvold[2099154] [...] VasaSession::GetFreeConn: No free connections to VP "
        "pure-ct0 (url: https://...) [#outstanding 5/5] - waiting\n"
        "...\n"
        f"{TIMES[2]} warning vvold[2099154] [Originator@6876 sub=Default] VasaSession::GetFreeConn: "
        "No free connections to VP pure-ct0 (url: https://10.21.88.113:8084/vasa) … - waiting\n"
        f"{TIMES[3]} warning vvold[2099154] [Originator@6876 sub=Default] {WAIT_MSG}\n"
    )
    d = _case(tmp_path, {"vvold-esx-07.txt": quoted, "tasks.csv": TASKS})
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert {("vvold-esx-07.txt", 1), ("vvold-esx-07.txt", 2)} <= _cited(d)


def test_a_vvold_log_with_local_offsets_lines_up_with_a_utc_task_list(tmp_path: Path) -> None:
    """Times written with a +01:00 offset (as vpxd may write them, §1.2): the same instants."""
    local = WAITS.replace("T10:", "T11:").replace(".100Z", ".100+01:00")
    d = _case(tmp_path, {"vvold-esx-07.log": local, "tasks.csv": TASKS})
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert not [n for n in d.notes if n.kind == "times-apart"]


def test_an_esxi8_grep_with_context_lines_and_line_markers(tmp_path: Path) -> None:
    """``grep -n -C1`` on an ESXi 8.0 vvold.log: ``N-`` context lines, ``N:`` matches, ``--``
    between groups, a ``Wa(164)+`` continuation (§1.3 and §1.4)."""
    lines = []
    for i, ts in enumerate(TIMES):
        n = 5000 + 100 * i
        head = f"VVold[2255518]: [Originator@6876 sub=Default OpId=x{i}]"
        lines += [
            f"{n - 1}-{ts} In(166) {head} VasaOp::CreateVirtualVolumeInt [#{i}]: ===> Issuing "
            "'createVirtualVolume' to VP pure-ct0 (#outstanding 5/5) [session state: Connected]",
            f"{n}:{ts} Wa(164) {head} {WAIT_MSG}",
            f"{n + 1}-{ts} Wa(164)+ VVold[2255518]: --> waiting for connection",
            "--",
        ]
    d = _case(tmp_path, {"vvold-esx-07.txt": "\n".join(lines) + "\n", "tasks.csv": TASKS})
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert "esx-07 -> pure-ct0" in d.verdict.summary
    cited = {c.line: c.text for f in d.findings for c in f.citations if c.file.endswith("vvold-esx-07.txt")}
    assert cited[2].startswith("5000:2026-03-14T10:10:05.100Z Wa(164) VVold[2255518]:")


ESXCLI_KEYVALUE = """[root@esx-12:~] esxcli --formatter=keyvalue storage vvol vasaprovider list
VasaProvider.Arrays.list[0].ArrayId.string=com.vendor:abc123
VasaProvider.Arrays.list[0].IsActive.boolean=true
VasaProvider.Arrays.list[0].Priority.integer=100
VasaProvider.Status.string=offline
VasaProvider.URL.string=https://vp01.corp.local:8443/vasa/version.xml
VasaProvider.VPName.string=array01-vp
VasaProvider.Arrays.list[0].ArrayId.string=com.vendor:def456
VasaProvider.Arrays.list[0].IsActive.boolean=true
VasaProvider.Arrays.list[0].Priority.integer=100
VasaProvider.Status.string=online
VasaProvider.URL.string=https://vp02.corp.local:8443/vasa/version.xml
VasaProvider.VPName.string=array02-vp
[root@esx-12:~]
"""


def test_esxcli_keyvalue_formatter_shows_the_offline_provider(tmp_path: Path) -> None:
    """``esxcli --formatter=keyvalue`` (one ``Struct.Field.type=value`` line per field, records one
    after the other). Before: every line 'not in esxcli list form', nothing read."""
    d = _case(tmp_path, {"esx-12-vasaprovider.txt": ESXCLI_KEYVALUE, "tasks.csv": TASKS})
    assert d.verdict.cls == "provider-registration", d.verdict.summary
    assert "array01-vp is offline as seen by esx-12" in d.verdict.summary
    assert ("esx-12-vasaprovider.txt", 5) in _cited(d)  # its Status line
    by_name = {p.name: p for p in d.providers}
    assert by_name["array02-vp"].status == {"esx-12": "online"}
    assert by_name["array01-vp"].arrays == ["com.vendor:abc123"]


GET_ESXCLI_V2 = """PS C:\\> $esxcli = Get-EsxCli -VMHost esx-12.corp.local -V2
PS C:\\> $esxcli.storage.vvol.vasaprovider.list.Invoke()

Arrays : {@{ArrayId=com.vendor:abc123; IsActive=true; Priority=100}}
Status : offline
URL    : https://vp01.corp.local:8443/vasa/version.xml
VPName : array01-vp

"""


def test_esxcli_through_powercli_get_esxcli_v2(tmp_path: Path) -> None:
    """PowerCLI users without SSH run esxcli through ``Get-EsxCli -V2``; the console prints each
    record as a list, nested arrays as ``{@{k=v; ...}}`` [CONSTRUCTED from PowerShell's
    rendering; field names as esxcli's keyvalue formatter spells them]. Before: "terminal paste
    holds no esxcli storage vvol list output" / unknown format, insufficient-evidence."""
    d = _case(tmp_path, {"esxcli-esx-12.txt": GET_ESXCLI_V2, "tasks.csv": TASKS})
    assert d.verdict.cls == "provider-registration", d.verdict.summary
    assert "array01-vp is offline as seen by esx-12" in d.verdict.summary
    assert ("esxcli-esx-12.txt", 4) in _cited(d)
    (provider,) = d.providers
    assert provider.arrays == ["com.vendor:abc123"]


GET_TASK_TABLE = """PS C:\\> Get-Task

Name                           State      % Complete Start Time           Finish Time
----                           -----      ---------- ----------           -----------
RelocateVM_Task                Error              0 3/14/2026 10:10:01 AM 3/14/2026 10:11:41 AM
RelocateVM_Task                Success          100 3/14/2026 10:10:02 AM 3/14/2026 10:10:52 AM
RelocateVM_Task                Error              0 3/14/2026 10:10:02 AM 3/14/2026 10:11:44 AM

"""


def test_get_task_table_whose_values_run_past_their_header(tmp_path: Path) -> None:
    """``Get-Task`` at a PowerCLI prompt (a table; layout CONSTRUCTED): a right-aligned number
    column and times wider than their header run across the dash groups' starts. A cut at the
    dash group alone gave '/14/2026 10:10:01 AM' (no date) for every start."""
    d = _case(tmp_path, {"vvold-esx-07.txt": WAITS, "tasks.txt": GET_TASK_TABLE})
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert len(d.migrations.failed) == 2
    assert not [w for w in d.warnings if "not a date" in w.message]
    assert {("tasks.txt", 5), ("tasks.txt", 7)} <= _cited(d)


def _vievent_block(key: int, time: str, message: str) -> str:
    return (
        f"Template             : False\nKey                  : {key}\nChainId              : {key - 1}\n"
        f"CreatedTime          : 3/14/2026 {time} AM\nUserName             : CORP\\jdoe\n"
        "Datacenter           : VMware.Vim.DatacenterEventArgument\n"
        "Vm                   : VMware.Vim.VmEventArgument\nDs                   :\n"
        f"FullFormattedMessage : {message}\nChangeTag            :\n\n"
    )


def test_get_vievent_default_list_output(tmp_path: Path) -> None:
    """``Get-VIEvent`` with no Select prints every property as a list (the base Event fields of
    §4.3; layout CONSTRUCTED). Before: unknown format and, with vvold waits, "healthy"."""
    route = "from esx-07.corp.local, vvol-ds01 to esx-08.corp.local, vvol-ds01"
    text = "PS C:\\> Get-VIEvent -Start (Get-Date).AddHours(-2)\n\n" + "".join(
        [
            _vievent_block(9011, "10:11:41", f"Failed to migrate app-01 {route}"),
            _vievent_block(9021, "10:10:52", f"Migration of virtual machine app-02 {route} completed"),
            _vievent_block(9031, "10:11:44", f"Failed to migrate app-03 {route}"),
        ]
    )
    d = _case(tmp_path, {"vvold-esx-07.txt": WAITS, "events.txt": text})
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert sorted(f.vm for f in d.migrations.failed) == ["app-01", "app-03"]
