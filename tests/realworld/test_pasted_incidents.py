"""Host logs as they reach us after a Windows tool, a pager or a syslog server (red-team cases of
2026-12-03). Before the fix each of these read as "no host-side evidence" (insufficient
evidence) or named no host, while the same lines given plainly read as saturation on esx-07.

Every vvold line here is the one-line 7.0 form of the GetFreeConn wait of
docs/evidence-formats.md §1.7 [RECONSTRUCTED there]; the wrappers around it (a pager's line
numbers, Select-String prefixes, RFC 5424 and ESXi 8.0 syslog headers, UTF-16) are CONSTRUCTED
from the tools' documented output formats (evidence-formats.md §1.4 and §8 for the syslog ones).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from vvolguard.analysis.model import Diagnosis
from vvolguard.pipeline import diagnose

NOW = datetime(2026, 3, 20, tzinfo=UTC)

TASKS = (
    '"Task Name","Target","Status","Initiator","Queued For","Start Time","Completion Time","Server"\n'
    '"Relocate virtual machine","app-01","A system error occurred.","CORP\\jdoe","3 ms",'
    '"3/14/2026 10:10:01 AM","3/14/2026 10:11:41 AM","vcsa01.corp.local"\n'
    '"Relocate virtual machine","app-02","Completed","CORP\\jdoe","3 ms",'
    '"3/14/2026 10:10:02 AM","3/14/2026 10:10:52 AM","vcsa01.corp.local"\n'
    '"Relocate virtual machine","app-03","A system error occurred.","CORP\\jdoe","3 ms",'
    '"3/14/2026 10:10:02 AM","3/14/2026 10:11:44 AM","vcsa01.corp.local"\n'
    '"Enter maintenance mode","esx-07.corp.local","Completed","CORP\\jdoe","3 ms",'
    '"3/14/2026 10:09:58 AM","3/14/2026 10:30:00 AM","vcsa01.corp.local"\n'
)
TIMES = (
    "2026-03-14T10:10:05.100Z",
    "2026-03-14T10:10:06.100Z",
    "2026-03-14T10:10:40.100Z",
    "2026-03-14T10:11:30.100Z",
)
WAIT_MSG = (
    "VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.21.88.113:8084/vasa) "
    "[#outstanding 5/5] - waiting"
)


def _wait(ts: str, n: int) -> str:
    return f"{ts} warning vvold[2099154] [Originator@6876 sub=Default OpId=a{n}] {WAIT_MSG}"


WAITS = [_wait(ts, n) for n, ts in enumerate(TIMES)]


def _diagnose(tmp_path: Path, name: str, data: str | bytes) -> Diagnosis:
    (tmp_path / "tasks.csv").write_text(TASKS, encoding="utf-8")
    path = tmp_path / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", newline="")
    return diagnose([tmp_path], now=NOW)


def _cited(d: Diagnosis, name: str) -> dict[int, str]:
    return {c.line: c.text for f in d.findings for c in f.citations if c.file.endswith(name)}


def _caveat(d: Diagnosis, name: str) -> str:
    (warning,) = [w.message for w in d.warnings if w.file.endswith(name) and "rewritten" in w.message]
    return warning


def _saturation_on_esx07(d: Diagnosis) -> None:
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert "esx-07" in d.verdict.summary and "pure-ct0" in d.verdict.summary


def test_a_vvold_log_saved_by_notepad_as_unicode_is_read(tmp_path: Path) -> None:
    """Notepad "Save as Unicode" / PowerShell 5.1 '>': UTF-16 LE with a BOM and CRLF. Before: no
    line read and not even a warning naming the file."""
    data = b"\xff\xfe" + ("\r\n".join(WAITS) + "\r\n").encode("utf-16-le")
    d = _diagnose(tmp_path, "vvold-esx-07.log", data)
    _saturation_on_esx07(d)
    assert _cited(d, "vvold-esx-07.log")[1].startswith("2026-03-14T10:10:05.100Z warning vvold[2099154]")
    assert "UTF-16" in _caveat(d, "vvold-esx-07.log")


def test_a_utf16_file_with_no_telling_name_is_known_by_its_content(tmp_path: Path) -> None:
    """``Select-String ... > hits.txt`` in Windows PowerShell: the name says nothing, the content is
    UTF-16; the sniffers read its head as UTF-8 too."""
    data = b"\xff\xfe" + ("\r\n".join(WAITS) + "\r\n").encode("utf-16-le")
    d = _diagnose(tmp_path, "hits.txt", data)
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert 2 in _cited(d, "hits.txt")


@pytest.mark.parametrize(
    ("shape", "prefix"),
    [("cat -n", "{n:6d}\t"), ("less -N", "{n:7d} ")],
)
def test_a_pager_paste_with_line_numbers_is_read_as_a_grep_excerpt(
    tmp_path: Path, shape: str, prefix: str
) -> None:
    texts = [WAITS[0], "--> VasaSession::GetFreeConn: waiting for a free connection", *WAITS[1:]]
    lines = [prefix.format(n=25331 + i) + text for i, text in enumerate(texts)]
    d = _diagnose(tmp_path, "vvold-esx-07.txt", "\n".join(lines) + "\n")
    _saturation_on_esx07(d)
    cited = _cited(d, "vvold-esx-07.txt")
    assert cited[1].startswith("25331:2026-03-14T10:10:05.100Z"), shape  # the original line number kept
    assert "line numbers" in _caveat(d, "vvold-esx-07.txt")


def test_powershell_select_string_with_context_and_a_windows_path(tmp_path: Path) -> None:
    """``Select-String -Path C:\\Cases\\4711\\esx-07\\vvold.log -Pattern 'No free' -Context 1,0``:
    ``> `` before a match, two spaces before a context line, the full path with its drive."""
    lines = [""]
    for i, w in enumerate(WAITS):
        poll = (
            f"2026-03-14T10:10:0{i}.000Z info vvold[2099154] [Originator@6876 sub=Default] "
            f"VasaOp::EventPollerCB [#{i}]: ===> Issuing 'getEvents' to VP pure-ct0 (#outstanding 5/5) "
            "[session state: Connected]"
        )
        lines.append(f"  C:\\Cases\\4711\\esx-07\\vvold.log:{1200 + 10 * i}:{poll}")
        lines.append(f"> C:\\Cases\\4711\\esx-07\\vvold.log:{1201 + 10 * i}:{w}")
    d = _diagnose(tmp_path, "esx-07-vvold-search.txt", "\r\n".join([*lines, "", ""]))
    _saturation_on_esx07(d)
    cited = _cited(d, "esx-07-vvold-search.txt")
    assert cited[3].startswith("vvold.log:1201:2026-03-14T10:10:05.100Z warning")
    assert "Select-String" in _caveat(d, "esx-07-vvold-search.txt")


def test_a_central_rsyslog_file_in_rfc5424_names_the_host(tmp_path: Path) -> None:
    """rsyslog's RSYSLOG_SyslogProtocol23Format: ``<PRI>1 TS HOST APP PROCID MSGID SD MSG``, the
    7.0 line (with its own level and app[pid]) as the message."""
    lines = [
        f"<164>1 {w.split(' ', 1)[0]} esx-07.corp.local Vvold 2099154 - - {w.split(' ', 1)[1]}" for w in WAITS
    ]
    d = _diagnose(tmp_path, "syslog-2026-03-14.log", "\n".join(lines) + "\n")
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert "esx-07.corp.local -> pure-ct0" in d.verdict.summary
    assert 1 in _cited(d, "syslog-2026-03-14.log")


@pytest.mark.parametrize("rfc", ["3164", "5424"])
def test_esxi8_forwarded_lines_without_a_level_name_their_host(tmp_path: Path, rfc: str) -> None:
    """ESXi 8.0 forwards ``<164>TS HOST Vvold[pid]: [Originator@6876 ...] msg`` (RFC 3164) or
    ``<164>1 TS HOST Vvold pid - [Originator@6876 ...] msg`` (RFC 5424): the level is only in
    <PRI> (evidence-formats.md §8, the shapes vvolguard.watch.syslog reads). Before: the waits
    counted for "unnamed-esxi-host" (3164) or were not read at all (5424)."""
    lines = []
    for i, ts in enumerate(TIMES):
        meta = f"[Originator@6876 sub=Default OpId=a{i}]"
        if rfc == "3164":
            lines.append(f"<164>{ts} esx-07.corp.local Vvold[2255518]: {meta} {WAIT_MSG}")
        else:
            lines.append(f"<164>1 {ts} esx-07.corp.local Vvold 2255518 - {meta} {WAIT_MSG}")
    d = _diagnose(tmp_path, "central.log", "\n".join(lines) + "\n")
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert "esx-07.corp.local -> pure-ct0" in d.verdict.summary
    assert "unnamed-esxi-host" not in d.verdict.summary
    assert "Wa(164) Vvold[2255518]:" in _cited(d, "central.log")[1]


def test_a_splunk_csv_export_of_the_central_syslog_is_read_as_the_host_log(tmp_path: Path) -> None:
    """A Splunk search exported as CSV (``_time,host,source,_raw``; newest first, Splunk's default
    file name): the vvold line is the ``_raw`` cell and the host is the ``host`` column
    [CONSTRUCTED from Splunk's export layout]. Before: "no timestamped ESXi log lines found"."""
    rows = ['"_time","host","source","_raw"']
    for w in reversed(WAITS):
        raw = w.replace('"', '""')
        rows.append(f'"{w[:23].replace("T", " ")}","esx-07.corp.local","/var/run/log/vvold.log","{raw}"')
    d = _diagnose(tmp_path, "1773483001_4711.csv", "\n".join(rows) + "\n")
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert "esx-07.corp.local -> pure-ct0" in d.verdict.summary
    cited = _cited(d, "1773483001_4711.csv")
    assert cited[2].startswith("2026-03-14T10:11:30.100Z esx-07.corp.local vvold: warning vvold[2099154]")
    assert "Splunk" in _caveat(d, "1773483001_4711.csv")


def test_grep_r_over_a_central_log_tree_gives_each_line_its_hosts_folder(tmp_path: Path) -> None:
    """``grep -r "No free" /var/log/remote/`` on a syslog server that keeps a folder per host:
    each line behind its file's path. Before: all lines counted for "unnamed-esxi-host"."""
    lines = [f"/var/log/remote/esx-07.corp.local/vvold.log:{w}" for w in WAITS]
    other = _wait("2026-03-14T10:10:07.000Z", 9).replace("pure-ct0", "pure-ct1")
    lines.insert(2, f"/var/log/remote/esx-08.corp.local/vvold.log:{other}")
    d = _diagnose(tmp_path, "grep-remote.txt", "\n".join(lines) + "\n")
    _saturation_on_esx07(d)
    assert "unnamed-esxi-host" not in d.verdict.summary and "esx-08" not in d.verdict.summary
    cited = _cited(d, "grep-remote.txt")
    assert cited[1].startswith("/var/log/remote/esx-07.corp.local/vvold.log:2026-03-14T10:10:05.100Z esx-07")
    assert "grep path" in _caveat(d, "grep-remote.txt")


def test_tail_of_several_hosts_logs_in_one_paste(tmp_path: Path) -> None:
    """``tail -n 50 esx-07/vvold.log esx-08/vvold.log``: ``==> path <==`` before each file."""
    calm = (
        "2026-03-14T10:10:05.000Z info vvold[2099777] [Originator@6876 sub=Default] VasaOp::EventPollerCB "
        "[#1]: ===> Issuing 'getEvents' to VP pure-ct0 (#outstanding 0/5) [session state: Connected]"
    )
    text = "\n".join(["==> esx-07/vvold.log <==", *WAITS, "", "==> esx-08/vvold.log <==", calm]) + "\n"
    d = _diagnose(tmp_path, "vvold-tails.txt", text)
    _saturation_on_esx07(d)
    assert "unnamed-esxi-host" not in d.verdict.summary


def test_a_grep_copied_from_tmux_copy_mode_cut_at_120_columns(tmp_path: Path) -> None:
    """tmux/screen copy mode copies what the pane shows: each wait cut into 120-column pieces.
    Before: the provider name fell on the second piece and the verdict named "(unknown)"."""
    pieces = []
    for w in WAITS:
        pieces += [w[i : i + 120] for i in range(0, len(w), 120)]
    d = _diagnose(tmp_path, "vvold-esx-07.txt", "\n".join(pieces) + "\n")
    _saturation_on_esx07(d)
    assert "(unknown)" not in d.verdict.summary
    cited = _cited(d, "vvold-esx-07.txt")
    assert cited[1] == WAITS[0] and cited[3] == WAITS[1]  # whole again, at its first piece's line
    assert "120 columns" in _caveat(d, "vvold-esx-07.txt")


def test_repeated_polls_of_one_length_are_not_taken_for_a_wrap(tmp_path: Path) -> None:
    """The longest lines of a calm log are its polls, all of one length: what follows each starts
    a record, so nothing is joined (and no caveat is given)."""
    polls = "".join(
        f"2026-03-14T10:{m:02d}:00.000Z info vvold[2099154] [Originator@6876 sub=Default] "
        f"VasaOp::EventPollerCB [#{m}]: ===> FINAL SUCCESS getEvents VP (pure-ct0) Container (N/A) "
        "timeElapsed=12 msecs (#outstanding 0)\n--> getEvents done\n"
        for m in range(10, 40)
    )
    d = _diagnose(tmp_path, "vvold-esx-07.log", polls)
    assert not [w for w in d.warnings if "columns" in w.message]


def test_lines_quoted_in_an_email_reply(tmp_path: Path) -> None:
    """A forwarded mail thread: the grep output quoted with ``> `` (and ``>> `` one reply deeper).
    Before: "no timestamped ESXi log lines found"."""
    quoted = [
        "On Sat, Mar 14, 2026 at 10:30 John wrote:",
        *("> " + w for w in WAITS[:2]),
        *(">> " + w for w in WAITS[2:]),
    ]
    d = _diagnose(tmp_path, "vvold-esx-07.txt", "\n".join(quoted) + "\n")
    _saturation_on_esx07(d)
    assert _cited(d, "vvold-esx-07.txt")[2] == WAITS[0]
    assert "quote marks" in _caveat(d, "vvold-esx-07.txt")


def test_times_without_a_zone_are_utc_or_what_tz_says(tmp_path: Path) -> None:
    """A log tool that drops ESXi's ``Z`` (``2026-03-14T10:10:05.100 warning vvold[...]``).
    Before: not one line read. Read as UTC like the zone-less CSV next to it; with ``--tz`` both
    move together."""
    text = "\n".join(w.replace(".100Z", ".100") for w in WAITS) + "\n"
    d = _diagnose(tmp_path, "vvold-esx-07.log", text)
    _saturation_on_esx07(d)
    assert _cited(d, "vvold-esx-07.log")[1].startswith("2026-03-14T10:10:05.100Z warning")
    berlin = diagnose([tmp_path], now=NOW, tz="Europe/Berlin")
    assert berlin.verdict.cls == "provider-saturation", berlin.verdict.summary
    cited = _cited(berlin, "vvold-esx-07.log")
    assert cited[1].startswith("2026-03-14T09:10:05.100Z warning")


def test_grep_hn_with_a_unix_path_is_read_as_it_is(tmp_path: Path) -> None:
    """grep's own ``/var/log/vvold.log:25331:`` is not a Select-String prefix: it keeps its path
    (the cited text shows it) and costs no rewrite."""
    lines = [f"/var/log/vvold.log:{25331 + i}:{w}" for i, w in enumerate(WAITS)]
    d = _diagnose(tmp_path, "vvold-grep-esx-07.txt", "\n".join(lines) + "\n")
    _saturation_on_esx07(d)
    assert _cited(d, "vvold-grep-esx-07.txt")[1] == lines[0]
    assert not [w for w in d.warnings if "rewritten" in w.message]
