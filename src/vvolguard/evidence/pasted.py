"""Host log text as admins hand it over after it went through a Windows tool, a pager or a
syslog server, made readable as the shapes the line readers know, as it streams.

The line readers (:mod:`vvold_block`, :mod:`hostlogs`) know ESXi's own lines, grep excerpts
and lines forwarded by ESXi's syslog. What they were given in real cases besides:

* a vvold.log opened in Notepad and saved as "Unicode" (UTF-16 LE with a BOM), or written by
  PowerShell's ``>`` / ``Out-File`` (``Get-Content vvold.log | Select-String ... > hits.txt``);
* a pager's or ``cat -n``'s line numbers in front of each line (``  25331 2026-...`` from
  ``less -N``, ``  25331\\t2026-...`` from ``cat -n``);
* PowerShell ``Select-String`` output: ``vvold.log:25331:2026-...``, with the whole Windows path
  when the search was given one (``C:\\Cases\\4711\\vvold.log:25331:...``), and ``> `` before a
  match and two spaces before a context line when ``-Context`` was used;
* a central rsyslog/syslog-ng file storing RFC 5424 records
  (``<164>1 2026-03-14T10:10:05.100Z esx-07 Vvold 2099154 - - warning vvold[2099154] ...``, or
  ESXi 8.0's ``<163>1 ... Vvold 2255518 - [Originator@6876 sub=Default] msg`` whose level is
  only in ``<PRI>``), and ESXi 8.0's default RFC 3164 forwarding, whose tag carries the pid and
  whose message has no level of its own (``<164>ts esx-07 Vvold[2255518]: [Originator@6876
  ...] msg``; docs/evidence-formats.md §8, the shape :mod:`vvolguard.watch.syslog` reads).
* a Splunk search exported as CSV (``"_time","host","source","_raw"``): the event is the
  ``_raw`` cell (:class:`SplunkRows`).

Each is rewritten line by line to the form the readers already read: UTF-16 to UTF-8; a line
number to grep's ``25331:`` (so a cited line still shows the original file's line number, as a
grep excerpt's does); a Select-String prefix to grep's ``vvold.log:25331:``; a syslog record to
the forwarded ``<PRI>ts host App: <level> App[pid]: msg`` shape, with the level ESXi 8 writes
for that PRI (``Wa(164)``). No line is added or removed, so line numbers stay the file's.

Why here and not in the line grammar: these shapes are rare, and the grammar is the parse's hot
path (a host's own vvold.log must keep up with grep). Whether a file needs a rewrite is decided
once, from its first 64 KiB, so a file in ESXi's own shape costs one regex scan of that, and
how a line reads never depends on where a block was cut. A warning (a caveat) says what was
rewritten, since a cited line then shows the rewritten text.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from vvolguard.evidence.hostnames import host_in_file_name

if TYPE_CHECKING:
    from vvolguard.evidence.source import EvidenceFile

#: How much of the first block decides whether the file needs a rewrite.
DECIDE_BYTES = 65536

_DATE = rb"\d{4}-\d\d-\d\dT\d\d:\d\d"
_LEVEL = rb"(?:[A-Z][a-z]\(\d{1,3}\)\+?|info|warning|error|verbose|trivia|panic|debug) "
_BSD = rb"[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d"
_RFC3339 = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"

#: ``less -N`` (number, one space) and ``cat -n`` (number, a tab) before a record or a ``-->``.
_NUMBERED = re.compile(rb"(?m)^ *(\d{1,12})(?:\t| )(?= *-->|" + _DATE + rb")")
#: PowerShell ``Select-String``: ``> `` or two spaces (with ``-Context``) and an optional path, or
#: a Windows path (``C:\\...\\``, ``\\\\server\\...\\``), then the file name, the line number and the
#: record. ``[^:\r\n]*`` cannot pass a colon, so only a drive letter's colon may stand in the
#: path. grep's own ``/var/log/vvold.log:25331:`` is not one (it is read as it is).
_SELECT_STRING = re.compile(
    rb"(?m)^(?:(?:> |  )(?:[A-Za-z]:)?(?:[^:\r\n]*[\\/])?|[A-Za-z]:\\(?:[^:\r\n]*\\)?|\\\\[^:\r\n]*\\)"
    rb"([^\\/:\s][^\\/:\r\n]*):(\d{1,12}):(?=" + _DATE + rb")"
)
#: An e-mail reply's quote marks (``> ``, ``>> ``) before a record or a ``-->`` line.
_QUOTED = re.compile(rb"(?m)^(?:>[ \t]?)+(?=" + _DATE + rb"|[ \t]*-->)")
#: ESXi's time without its zone (``2026-03-14T10:10:05.100 warning vvold[...]``), as some log
#: tools and SIEM templates write it: taken as UTC, as the other readers take zone-less times.
_NO_ZONE = re.compile(
    rb"(?m)^((?:[^\s:]+[:-])?(?:\d{1,12}[:-])?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?)(?= "
    + _LEVEL
    + rb")"
)
#: An RFC 5424 record as a syslog server stores it: ``<PRI>1 TS HOST APP PROCID MSGID SD MSG``
#: with ``-`` for absent parts; only the ``-`` or Originator structured data ESXi sends.
_RFC5424 = re.compile(
    rb"(?m)^<(\d{1,3})>1 (" + _RFC3339 + rb") ([^\s\[\]:]+) ([A-Za-z][\w.-]*) (\d{1,10}|-) \S+ (?:- )?"
)
#: ESXi 8.0's RFC 3164 forwarding: ``<PRI>TS HOST App[pid]: msg`` with no level in the message.
_TAG_WITH_PID = re.compile(
    rb"(?m)^<(\d{1,3})>(" + _RFC3339 + rb"|" + _BSD + rb") ([^\s\[\]:]+) ([A-Za-z][\w.-]*)\[(\d{1,10})\]: ?"
    rb"(?!" + _LEVEL + rb")"
)
_UTF16_NOTE = "UTF-16 text (Notepad's \"Unicode\", PowerShell's '>' or Out-File) as UTF-8"
_SEVERITY = (b"Em", b"Al", b"Cr", b"Er", b"Wa", b"No", b"In", b"Db")


def _esxi8_level(pri: bytes) -> bytes:
    """ESXi 8.0's own spelling of a syslog priority: ``Wa(164)`` for 164 (local4.warning)."""
    value = int(pri)
    return _SEVERITY[value & 7] + b"(" + pri + b")"


def _unquoted(m: re.Match[bytes]) -> bytes:
    return b""


def _utc(m: re.Match[bytes]) -> bytes:
    return m.group(1) + b"Z"


_STAMP = re.compile(rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?$")


def _zoned(tz: tzinfo) -> Callable[[re.Match[bytes]], bytes]:
    """``_utc`` for times written in ``tz`` (``--tz``): each is turned into UTC."""

    def fix(m: re.Match[bytes]) -> bytes:
        stamp = _STAMP.search(m.group(1))
        if stamp is None:
            return m.group(1) + b"Z"
        y, mo, d, h, mi, s = (int(v) for v in stamp.groups()[:6])
        try:
            utc = datetime(y, mo, d, h, mi, s, tzinfo=tz).astimezone(UTC)
        except ValueError:
            return m.group(0)
        head = m.group(1)[: stamp.start()]
        return head + utc.strftime("%Y-%m-%dT%H:%M:%S").encode() + (stamp.group(7) or b"") + b"Z"

    return fix


def _numbered(m: re.Match[bytes]) -> bytes:
    return m.group(1) + b":"


def _select_string(m: re.Match[bytes]) -> bytes:
    return m.group(1) + b":" + m.group(2) + b":"


def _rfc5424(m: re.Match[bytes]) -> bytes:
    pri, ts, host, app, procid = m.groups()
    if int(pri) > 191:
        return m.group(0)
    head = b"<" + pri + b">" + ts + b" " + host + b" " + app + b": "
    # ESXi 6.x/7.0 put their own level and app[pid] into the message; ESXi 8.0 does not, and its
    # message then needs the level and app[pid] the readers expect of ESXi 8.0's own lines.
    end = m.end()
    line = m.string[end : end + 64]
    if procid != b"-" and not re.match(_LEVEL, line):
        head += _esxi8_level(pri) + b" " + app + b"[" + procid + b"]: "
    return head


def _tag_with_pid(m: re.Match[bytes]) -> bytes:
    pri, ts, host, app, pid = m.groups()
    if int(pri) > 191:
        return m.group(0)
    return (
        b"<"
        + pri
        + b">"
        + ts
        + b" "
        + host
        + b" "
        + app
        + b": "
        + _esxi8_level(pri)
        + b" "
        + app
        + b"["
        + pid
        + b"]: "
    )


#: (pattern, replacement, what the caveat calls it), tried in this order on each line.
_REWRITES: tuple[tuple[re.Pattern[bytes], Callable[[re.Match[bytes]], bytes], str], ...] = (
    (_NUMBERED, _numbered, "line numbers of a pager or 'cat -n' (kept as grep's 'N:')"),
    (_SELECT_STRING, _select_string, "PowerShell Select-String prefixes (kept as grep's 'file:N:')"),
    (_QUOTED, _unquoted, "an e-mail reply's '>' quote marks (dropped)"),
    (_NO_ZONE, _utc, "times without a zone (taken as UTC, or as --tz says)"),
    (_RFC5424, _rfc5424, "RFC 5424 syslog records (read as ESXi's forwarded lines)"),
    (_TAG_WITH_PID, _tag_with_pid, "ESXi 8.0 syslog records without a level (level taken from <PRI>)"),
)


def utf16_codec(head: bytes) -> str | None:
    """The UTF-16 codec a file's first bytes show (a BOM, or zero bytes in every other place,
    as Notepad and PowerShell write it), or ``None``."""
    if head.startswith(b"\xff\xfe"):
        return "utf-16-le"
    if head.startswith(b"\xfe\xff"):
        return "utf-16-be"
    sample = head[:512]
    if len(sample) >= 16:
        half = len(sample) // 2
        odd_zero, even_zero = sample[1::2].count(0), sample[0::2].count(0)
        if odd_zero > 0.4 * half and even_zero < 0.05 * half:
            return "utf-16-le"
        if even_zero > 0.4 * half and odd_zero < 0.05 * half:
            return "utf-16-be"
    return None


def as_utf8(head: bytes) -> bytes:
    """A UTF-16 head as UTF-8 (for sniffing); any other head as it is."""
    codec = utf16_codec(head)
    if codec is None:
        return head
    text = codecs.getincrementaldecoder(codec)("replace").decode(head, final=False)
    return text.lstrip("\ufeff").encode("utf-8")


def _transcode(blocks: Iterator[bytes], codec: str) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder(codec)("replace")
    first = True
    for block in blocks:
        text = decoder.decode(block)
        if first and text:
            text = text.lstrip("\ufeff")  # the BOM is not part of the first line
            first = False
        if text:
            yield text.encode("utf-8")
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail.encode("utf-8")


def _by_lines(blocks: Iterator[bytes], rewrite: Callable[[bytes], bytes]) -> Iterator[bytes]:
    """``rewrite`` applied to whole lines only (a line may span blocks)."""
    tail = b""
    for block in blocks:
        data = tail + block if tail else block
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        if cut:
            yield rewrite(data[:cut])
    if tail:
        yield rewrite(tail)


def normalised(ef: EvidenceFile, blocks: Iterator[bytes]) -> Iterator[bytes]:
    """``blocks`` as they are, or rewritten as the module docstring says; decided once per file
    from its first block, with a caveat on the file naming what was rewritten."""
    first = next(blocks, None)
    if first is None:
        return
    stream: Iterator[bytes] = itertools.chain([first], blocks)
    notes: list[str] = []
    codec = utf16_codec(first)
    if codec is not None:
        notes.append(_UTF16_NOTE)
        stream = _transcode(stream, codec)
        first = next(stream, b"")
        stream = itertools.chain([first], stream)
    splunk = SplunkRows.of(first)
    if splunk is not None:
        ef.warn(
            "rewritten as it was read: "
            + "; ".join([*notes, "a Splunk CSV export (each row's _raw event read as its log line)"])
            + "; cited lines show the text as read",
            1,
            caveat=True,
        )
        yield from _by_lines(stream, splunk.rewrite)
        return
    sample = first[:DECIDE_BYTES]
    cut = sample.rfind(b"\n") + 1
    sample = sample[:cut] if cut else sample
    if PathHosts.applies(sample):
        notes.append("the host named by each line's grep path or tail header (given to its lines)")
        stream = _by_lines(stream, PathHosts().rewrite)
    active = [
        (pattern, fix)
        for pattern, fix, what in _REWRITES
        if pattern.search(sample) and _changes(pattern, fix, sample)
    ]
    notes += [what for pattern, fix, what in _REWRITES if (pattern, fix) in active]
    tz = getattr(ef, "assume_tz", None)
    if tz is not None:
        active = [(p, _zoned(tz) if fix is _utc else fix) for p, fix in active]
    # judged on the lines as the readers will see them (a pager's numbers, a syslog header gone)
    for pattern, fix in active:
        sample = pattern.sub(fix, sample)
    width = wrap_width(sample)
    if width is not None:
        notes.append(f"lines a terminal cut at {width} columns (joined back)")
    if notes:
        ef.warn(
            "rewritten as it was read: " + "; ".join(notes) + "; cited lines show the text as read",
            1,
            caveat=True,
        )
    if active:

        def rewrite(data: bytes) -> bytes:
            for pattern, fix in active:
                data = pattern.sub(fix, data)
            return data

        stream = _by_lines(stream, rewrite)
    if width is not None:
        stream = _unwrapped(stream, width)
    yield from stream


#: A line that starts a record (behind a ``<PRI>``, grep prefix or BSD stamp) or continues one.
_RECORD_OR_MARK = re.compile(
    rb"^(?:(?:<\d{1,3}>)?(?:[^\s:]+[:-])?(?:\d{1,12}[:-])?(?:\d{4}-\d\d-\d\dT\d\d:\d\d|" + _BSD + rb")"
    rb"|(?:[^\s:]+[:-])?(?:\d{1,12}[:-])?\s*-->|--\r?$|\s*$)"
)


#: A time stamp near a line's start: such a line is a record of some shape, never a cut's rest.
_DATE_NEAR = re.compile(_DATE)


def _goes_on(line: bytes) -> bool:
    """Whether ``line`` can be the rest of a line cut before it (it starts no record)."""
    return not _RECORD_OR_MARK.match(line) and not _DATE_NEAR.search(line, 0, 48)


def wrap_width(sample: bytes) -> int | None:
    """The terminal width a paste was hard-wrapped at, or None: the longest line's length, when
    no line is longer, it is a terminal's width (60 to 300 columns), and at least two lines of
    exactly that length are followed by a line that neither starts nor continues a record (the
    rest of the cut line). tmux/screen copy mode and some consoles copy what they show, cut at
    the width; ESXi's lines are rarely shorter than 80 columns. Repeated lines of one length
    (polls) alone do not make a wrap: what follows them starts a record."""
    lines = [line.rstrip(b"\r") for line in sample.split(b"\n")]
    if len(lines) < 3:
        return None
    width = max(len(line) for line in lines)
    if not 60 <= width <= 300:
        return None
    cut = sum(1 for line, after in itertools.pairwise(lines) if len(line) == width and _goes_on(after))
    return width if cut >= 2 else None


def _unwrapped(blocks: Iterator[bytes], width: int) -> Iterator[bytes]:
    """Lines cut at ``width`` joined back: a line exactly ``width`` long takes the next line when
    that line neither starts nor continues a record; the joined pieces leave empty lines behind,
    so every later line keeps its number (a cited record is cited at its first piece)."""
    held: list[bytes] = []  # the pieces of a line that may go on in the next line
    tail = b""
    for block in blocks:
        data = tail + block if tail else block
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        if not cut:
            continue
        out: list[bytes] = []
        for line in data[: cut - 1].split(b"\n"):
            held = _take(held, line, width, out)
        yield b"".join(part + b"\n" for part in out)
    if tail:
        out = []
        held = _take(held, tail, width, out)
    else:
        out = []
    if held:
        out += [b"".join(p.rstrip(b"\r") for p in held[:-1]) + held[-1]] + [b""] * (len(held) - 1)
    if out:
        yield b"\n".join(out) + b"\n"


def _take(held: list[bytes], line: bytes, width: int, out: list[bytes]) -> list[bytes]:
    """One more line: added to the held pieces when it goes on with them, else the held line is
    written out (joined, then an empty line per piece it took). Returns the new held pieces."""
    if held and _goes_on(line):
        held.append(line)
    else:
        if held:
            out.append(b"".join(p.rstrip(b"\r") for p in held[:-1]) + held[-1])
            out.extend([b""] * (len(held) - 1))
        held = [line]
    if len(line.rstrip(b"\r")) != width:  # the line ends here: nothing more to join
        out.append(b"".join(p.rstrip(b"\r") for p in held[:-1]) + held[-1])
        out.extend([b""] * (len(held) - 1))
        held = []
    return held


#: ``grep -r``/``-H`` (``path:``, ``path:25331:``, context ``path-25331-``) before a record.
_GREP_PATH = re.compile(rb"^([^\s:]*/[^\s:]+)[:-](?:\d{1,12}[:-])?(?=" + _DATE + rb")")
#: ``tail``/``head`` of several files: ``==> path <==`` before each file's lines.
_TAIL_HEADER = re.compile(rb"^==> (.{1,1000}) <==\r?$")


def _path_host(path: bytes) -> bytes | None:
    """The ESXi host a log's path names (``/var/log/remote/esx-07.corp.local/vvold.log``,
    ``esx-07/vvold.log``, ``logs/vvold-esx-07.log``): its file name first, then its folders."""
    parts = path.decode("utf-8", "replace").replace("\\", "/").split("/")
    for part in reversed(parts):
        host = host_in_file_name(part) if part else None
        if host is not None:
            return host.encode("utf-8")
    return None


class PathHosts:
    """One excerpt of several hosts' logs: ``grep -r "No free" /var/log/remote/`` (each line behind
    its file's path) or ``tail -n 50 esx-07/vvold.log esx-08/vvold.log`` (``==> path <==`` before
    each file). Without this every line counts for one unnamed host; with it, each of ESXi's own
    lines gets the host its path names, in the forwarded shape the readers take the host from
    (``<prefix>ts host app: level app[pid] ...``); the grep prefix stays, so a cited line still
    shows it."""

    def __init__(self) -> None:
        self.host: bytes | None = None  # of the current ``==> path <==`` section

    @staticmethod
    def applies(sample: bytes) -> bool:
        for line in sample.split(b"\n", 200)[:200]:
            m = _TAIL_HEADER.match(line) or _GREP_PATH.match(line)
            if m and _path_host(m.group(1)):
                return True
        return False

    def rewrite(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for line in data.split(b"\n"):
            tail = _TAIL_HEADER.match(line)
            if tail:
                self.host = _path_host(tail.group(1))
                out.append(line)
                continue
            grep = _GREP_PATH.match(line)
            prefix, host = (grep.group(0), _path_host(grep.group(1))) if grep else (b"", self.host)
            own = _OWN_LINE.match(line, len(prefix)) if host else None
            if own is None or host is None:
                out.append(line)
                continue
            ts_end = own.end(1)
            out.append(prefix + own.group(1) + b" " + host + b" " + own.group(2) + b": " + line[ts_end + 1 :])
        return b"\n".join(out)


#: A log line in ESXi's own shape: its time, its level and ``app[pid]`` (what Splunk keeps as
#: ``_raw`` when the host column, not the line, names the host).
_OWN_LINE = re.compile(rb"(" + _RFC3339 + rb") (?=" + _LEVEL + rb"([A-Za-z][\w.-]*)\[\d+\])")


class SplunkRows:
    """A Splunk search exported as CSV (``"_time","host","source","_raw"``, newest first): the
    event itself is the ``_raw`` cell. Each row becomes that line (as the forwarded
    ``ts host App: ...`` shape when ``_raw`` is ESXi's own line and a ``host`` column names the
    host); the header becomes an empty line, so line numbers stay the file's. A row whose event
    spans lines is left as it is (its parts read as continuations)."""

    def __init__(self, columns: int, raw: int, host: int | None) -> None:
        self.columns, self.raw, self.host = columns, raw, host
        self._header = True

    @classmethod
    def of(cls, first: bytes) -> SplunkRows | None:
        end = first.find(b"\n", 0, 4096)
        line = first[: end if end >= 0 else 4096].lstrip(b"\xef\xbb\xbf").rstrip(b"\r")
        if b"_raw" not in line or len(line) > 4096:
            return None
        cells = _csv_cells(line)
        names = [c.strip().lower() for c in cells or []]
        if "_raw" not in names:
            return None
        return cls(len(names), names.index("_raw"), names.index("host") if "host" in names else None)

    def rewrite(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for line in data.split(b"\n"):
            if self._header and line.strip():
                self._header = False
                out.append(b"")
                continue
            cells = _csv_cells(line.rstrip(b"\r")) if line else None
            if cells is None or len(cells) != self.columns:
                out.append(line)
                continue
            event = cells[self.raw].encode("utf-8")
            host = cells[self.host].strip() if self.host is not None else ""
            own = _OWN_LINE.match(event)
            if own and host and " " not in host:
                name = host.encode("utf-8")
                event = own.group(1) + b" " + name + b" " + own.group(2) + b": " + event[own.end(1) + 1 :]
            out.append(event.replace(b"\n", b" ").replace(b"\r", b""))
        return b"\n".join(out)


def _csv_cells(line: bytes) -> list[str] | None:
    """One CSV line's cells, or None when it is not one whole record (a quote left open)."""
    try:
        rows = list(csv.reader([line.decode("utf-8", "replace")]))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def _changes(pattern: re.Pattern[bytes], fix: Callable[[re.Match[bytes]], bytes], sample: bytes) -> bool:
    """A rewrite is taken on only if it would change a line of the sample (grep's own
    ``vvold.log:25331:`` fits Select-String's pattern and is read as it is)."""
    return any(fix(m) != m.group(0) for m in pattern.finditer(sample))
