"""The line grammar shared by every ESXi daemon log (vvold, hostd, vmkernel), in two flavours.

ESXi daemons log through the same Vmacore logger, so one tolerant grammar (docs/evidence-formats.md §1.5)
covers 6.7/7.0 (``info vvold[pid] [Originator@6876 sub=...]`` with ``-->`` continuation lines)
and 8.0 (``In(166) VVold[pid]: [...]``, ``Er(163)+`` line markers, ``-->`` after the app).

Two flavours of the same grammar exist because the volumes differ:

* Python ``re`` helpers (:func:`parse_line`, :func:`strip_grep_prefix`, ...) for small or sparse
  inputs (hostd events, tests, a single live line);
* polars expressions (:func:`ts_expr`, :data:`HEADER_START_RS`, ...) for the vvold reader, which
  must keep up with ``grep`` on gigabytes. Polars uses Rust's ``regex`` crate, which has no
  look-around, so the look-ahead of the grep-prefix pattern becomes a capture that is put back.

Both flavours are built from the same pattern strings, so they cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import polars as pl

# shared with Citation, which drops the blob from every quoted line
from vvolguard.records import CONTEXT_BLOB_RS, strip_context  # noqa: F401 (CONTEXT_BLOB_RS re-exported)

# --------------------------------------------------------------------------------------------
# Pattern text shared by the Python and polars flavours
# --------------------------------------------------------------------------------------------

TS_PATTERN = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})"
#: Level words of 6.7/7.0 and ``Xx(PRI)`` severities of 8.0; ``+`` marks a continued submission.
LEVEL_PATTERN = r"[A-Z][a-z]\(\d{1,3}\)\+?|info|warning|error|verbose|trivia|panic|debug"
#: Metadata may contain one level of nested brackets: ``sub=vmomi.soapStub[0]`` (§1.2).
META_PATTERN = r"Originator@\d+[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*"

#: grep prefixes, only before a timestamp (§1.4): ``grep -n`` (``25331:``), ``-r``/``-H``/``zgrep``
#: (``path:``, ``vvold.1.gz:``) or both (``path:123:``); a context line of ``-A/-B/-C`` has ``-``
#: where a matching line has ``:`` (``25330-``, ``path-25330-``). A naive ``^[^:]+:\d+:`` would eat
#: ``2025-08-08T12:17:`` from an unprefixed line; the look-ahead keeps the timestamp whole (a date
#: cannot be cut into a prefix and a date). Paths with spaces or colons (``C:\logs``) are not
#: prefixes: such lines are left as they are. A syslog relay may put its own BSD header before
#: the ESXi time (``Mar 14 10:09:58 10.100.101.102 2026-03-14T10:09:58.120Z esx01 Vvold: ...``, §8):
#: the relay's time and address go with the prefix (the ESXi time and host that follow are kept).
RELAY_PREFIX = r"(?:[A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2} [^\s:]+(?::\d+)? )?"
#: What may stand before a record's date: ``<PRI>`` or a grep path, a grep line number, a relay.
_BEFORE_DATE = rf"(?:<\d{{1,3}}>|[^\s:]+[:-])?(?:\d+[:-])?{RELAY_PREFIX}"
GREP_PREFIX_RE = re.compile(rf"^{_BEFORE_DATE}(?=\d{{4}}-\d{{2}}-\d{{2}}T)")
#: The same for Rust regex (no look-ahead): capture the date and put it back with ``${1}``.
GREP_PREFIX_RS = rf"^{_BEFORE_DATE}(\d{{4}}-\d{{2}}-\d{{2}}T)"

#: A line that starts a record: a timestamp, possibly behind a grep prefix. Anything else is a
#: continuation of the previous record (``-->`` lines, stack dumps, wrapped text, the ``--``
#: that grep puts between context groups).
HEADER_START_RS = rf"^{_BEFORE_DATE}\d{{4}}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}"

#: A line forwarded by ESXi's syslog (§8) carries the host and an ``App:`` tag between its time
#: and the log line's own level: ``<166>2019-05-21T19:27:32.479Z esxi.example Hostd: info
#: hostd[123] ...`` (the ``<PRI>`` goes with the grep prefixes above).
SYSLOG_HOST_TAG = r"(?:\S+\s+[A-Za-z][\w.-]*:\s+)?"

#: Everything before the message of a (grep-prefix-stripped) header line; replaced by "".
HEAD_PREFIX_RS = (
    rf"^{TS_PATTERN}\s+(?:{SYSLOG_HOST_TAG}(?:{LEVEL_PATTERN})\s+[A-Za-z][\w.-]*\[\d+\]:?\s*(?:-->\s?)?"
    rf"(?:\[{META_PATTERN}\]\s?)?)?"
)

#: A whole level token (after splitting a header on spaces).
LEVEL_TOKEN_RS = rf"^(?:{LEVEL_PATTERN})$"
#: Level and pid of a (grep-prefix-stripped) header line; short captures are cheap.
#: ``shost``: the sending host of a syslog-forwarded line (§8), which names the host of that line
#: when a central syslog file mixes many.
HEAD_LEVEL_PID_RS = (
    r"^\S+\s+(?:(?P<shost>[^\s\[\]]+)\s+[A-Za-z][\w.-]*:\s+)?"
    rf"(?P<level>{LEVEL_PATTERN})\s+[A-Za-z][\w.-]*\[(?P<pid>\d+)\]"
)

#: The tolerant line regex of §1.5, for a line whose grep prefix is already stripped.
LINE_PATTERN = (
    rf"^(?P<ts>{TS_PATTERN})\s+"
    rf"{SYSLOG_HOST_TAG}(?P<level>{LEVEL_PATTERN})\s+"
    r"(?P<app>[A-Za-z][\w.-]*)\[(?P<pid>\d+)\]:?\s*"
    r"(?P<cont>-->)?\s?"
    rf"(?:\[(?P<meta>{META_PATTERN})\]\s?)?"
    r"(?P<msg>.*)$"
)
LINE_RE = re.compile(LINE_PATTERN, re.DOTALL)
TS_RE = re.compile(rf"^{TS_PATTERN}")
_TS_PARTS_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):?(\d{2}))")

#: ``Section for VMware ESX`` (6.7-8.0) or ``ESXi`` (9.0) header: version, build, daemon restart.
SECTION_PATTERN = r"Section for VMware ESXi?,\s*pid=(\d+),\s*version=([\w.]+),\s*build=(\w+)"
SECTION_RE = re.compile(SECTION_PATTERN)

#: Hostd before 6.5: ``[2011-04-01 15:14:34.203 F5A5AB90 info 'vm:/vmfs/…' opID=…]``. Out of
#: scope; recognised only so the reader can say so once instead of silently reading nothing.
LEGACY_PATTERN = r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} [0-9A-Fa-f]{8} \w+ "
LEGACY_RE = re.compile(LEGACY_PATTERN)
LEGACY_WARNING = (
    "pre-6.5 ESXi log shape ('[YYYY-MM-DD hh:mm:ss.mmm THREAD level ...]') is not supported; "
    "its lines were skipped"
)

#: A continuation marker, possibly behind a grep prefix (``25331:-->``, ``vvold.log-12-   -->``).
CONTINUATION_RE = re.compile(r"^(?:[^\s:]+[:-])?(?:\d+[:-])?\s*--> ?")
CONTINUATION_RS = r"^(?:[^\s:]+[:-])?(?:\d+[:-])?\s*--> ?"


_META_KEY_RE = re.compile(r"\b(sub|opID|OpId|opid|user|sid)=(\S+)", re.IGNORECASE)

_SEVERITY = {
    "Em": "error",
    "Al": "error",
    "Cr": "error",
    "Er": "error",
    "Wa": "warning",
    "No": "info",
    "In": "info",
    "Db": "debug",
}


# --------------------------------------------------------------------------------------------
# Python flavour
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogLine:
    """One timestamped log line, split into its parts. ``msg`` has any context blob removed."""

    ts: datetime
    level: str | None
    app: str | None
    pid: int | None
    continued: bool  # 8.0 ``-->`` after the app, or a ``+`` line marker
    meta: dict[str, str]
    msg: str


def strip_grep_prefix(line: str) -> str:
    """Remove a ``grep -n``/``-r``/``-H`` prefix, but only when a timestamp follows it."""
    return GREP_PREFIX_RE.sub("", line, count=1)


def normalise_level(raw: str | None) -> str | None:
    """``Er(163)+`` -> ``error``, ``In(166)`` -> ``info``, ``warning`` stays: one scale for all."""
    if not raw:
        return None
    if len(raw) >= 2 and raw[1].islower() and "(" in raw:
        return _SEVERITY.get(raw[:2], raw[:2].lower())
    return raw.lower()


def parse_ts(text: str) -> datetime | None:
    """An ESXi timestamp (``Z`` or ``±hh:mm``, optional fraction) as aware UTC, or None."""
    match = _TS_PARTS_RE.match(text)
    if not match:
        return None
    base, frac, zone, sign, hours, minutes = match.groups()
    tz: timezone = UTC
    if zone != "Z":
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        tz = timezone(offset if sign == "+" else -offset)
    try:
        when = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    micros = int((frac + "000000")[:6]) if frac else 0
    try:
        return when.replace(microsecond=micros, tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def parse_meta(meta: str | None) -> dict[str, str]:
    """``sub``, ``opid`` (from ``opID``/``OpId``), ``user`` and ``sid`` from the metadata block."""
    out: dict[str, str] = {}
    if not meta:
        return out
    for key, value in _META_KEY_RE.findall(meta):
        key = key.lower()
        out.setdefault(key, value)
    return out


def parse_line(line: str) -> LogLine | None:
    """Parse one timestamped line (grep prefix allowed); None for continuations and junk.

    A line whose timestamp parses but whose rest does not follow the grammar still yields a
    :class:`LogLine` (level/app/pid unknown, the rest as message): tolerant, not strict.
    """
    line = strip_grep_prefix(line.rstrip("\r\n"))
    match = LINE_RE.match(line)
    if match:
        ts = parse_ts(match["ts"])
        if ts is None:
            return None
        raw_level = match["level"]
        return LogLine(
            ts=ts,
            level=normalise_level(raw_level),
            app=match["app"],
            pid=int(match["pid"]),
            continued=bool(match["cont"]) or raw_level.endswith("+"),
            meta=parse_meta(match["meta"]),
            msg=strip_context(match["msg"]),
        )
    ts = parse_ts(line)
    if ts is None:
        return None
    rest = TS_RE.sub("", line, count=1).lstrip()
    return LogLine(ts=ts, level=None, app=None, pid=None, continued=False, meta={}, msg=strip_context(rest))


def continuation_text(line: str) -> str:
    """The text of a continuation line, without its ``-->`` marker."""
    return strip_context(CONTINUATION_RE.sub("", line.rstrip("\r\n"), count=1))


@dataclass(frozen=True, slots=True)
class SectionHeader:
    """A ``Section for VMware ESX`` header: the daemon (re)started with this version and build."""

    pid: int
    version: str
    build: str


def parse_section(text: str) -> SectionHeader | None:
    match = SECTION_RE.search(text)
    if not match:
        return None
    return SectionHeader(pid=int(match[1]), version=match[2], build=match[3])


def is_legacy(line: str) -> bool:
    return bool(LEGACY_RE.match(line))


# --------------------------------------------------------------------------------------------
# polars flavour (vectorised; used on many lines at once)
# --------------------------------------------------------------------------------------------


def strip_grep_prefix_expr(col: pl.Expr) -> pl.Expr:
    return col.str.replace(GREP_PREFIX_RS, "${1}")


def ts_expr(col: pl.Expr) -> pl.Expr:
    """Parse ESXi timestamps (``Z`` or offset, optional fraction) to ``Datetime(us, UTC)``."""
    raw = col.str.extract(rf"^({TS_PATTERN})", 1)
    # chrono's %:z wants +hh:mm; normalise Z and +hhmm, and drop sub-microsecond digits.
    raw = raw.str.replace(r"Z$", "+00:00").str.replace(r"([+-]\d{2})(\d{2})$", "${1}:${2}")
    raw = raw.str.replace(r"(\.\d{6})\d+", "${1}")
    return raw.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us", time_zone="UTC")


def ts_expr_fast(col: pl.Expr) -> pl.Expr:
    """The common ``YYYY-MM-DDTHH:MM:SS[.fff]Z`` spelling only; null for anything else."""
    return col.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.fZ", strict=False, time_unit="us", time_zone="UTC", cache=False
    )


def ts_expr_esxi(col: pl.Expr) -> pl.Expr:
    """ESXi's own ``YYYY-MM-DDTHH:MM:SS.fffZ`` at the start of ``col``; null for anything else.

    About 3x cheaper per row than :func:`ts_expr_fast`: the seconds part repeats from line to
    line (a busy log writes many lines a second), so it is parsed once per distinct second
    (``cache``), and the milliseconds are a plain integer cast.
    """
    seconds = col.str.slice(0, 19).str.to_datetime(
        "%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us", time_zone="UTC", cache=True
    )
    millis = col.str.slice(20, 3).cast(pl.Int64, strict=False)
    exact = col.str.slice(19, 5).str.contains(r"^\.\d{3}Z$")
    return pl.when(exact).then(seconds + pl.duration(milliseconds=millis))


def level_expr(col: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalise_level`."""
    prefix = col.str.slice(0, 2)
    is_pri = col.str.contains(r"^[A-Z][a-z]\(")
    mapped = prefix.replace_strict(_SEVERITY, default=prefix.str.to_lowercase(), return_dtype=pl.String)
    return pl.when(is_pri).then(mapped).otherwise(col.str.to_lowercase())


def clip_expr(col: pl.Expr, limit: int) -> pl.Expr:
    """Vectorised ``records.clip``: at most ``limit`` characters, ``…`` marking a cut."""
    col = col.str.strip_chars_end("\r\n")
    return pl.when(col.str.len_chars() > limit).then(col.str.slice(0, limit - 1) + "…").otherwise(col)
