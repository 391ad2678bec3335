"""Helpers shared by the readers of small structured evidence (esxcli, PowerCLI, task exports).

Why one module: those readers meet the same hazards from the same tools. PowerShell writes
UTF-16 when output is redirected with ``>``, dates come as ``\\/Date(ms)\\/``, ISO or the browser's
locale, keys differ by case and spacing (``Array Id`` / ``ArrayId`` / ``arrayId``), and a JSON
export may be cut off half-way. Handling these once keeps every reader tolerant in the same way.

Nothing here raises on bad input: every function returns ``None`` (or stops early) and reports
through a :class:`Warner`.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any

from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import Record

#: Largest structured export read in one piece. These files are kilobytes to a few megabytes in
#: practice; anything bigger is not what it claims to be, and reading it would cost memory.
TEXT_LIMIT = 64 * 1024 * 1024

#: Warnings kept per file, so a file of 100 000 broken rows cannot flood a report.
WARN_CAP = 50


# --------------------------------------------------------------------------------------------
# Warnings and safety net
# --------------------------------------------------------------------------------------------


class Warner:
    """``ef.warn`` with a cap: the first :data:`WARN_CAP` warnings, then one summary line."""

    def __init__(self, ef: EvidenceFile, cap: int = WARN_CAP) -> None:
        self.ef = ef
        self.cap = cap
        self.count = 0
        self._once: set[str] = set()

    def __call__(self, message: str, line: int | None = None, *, caveat: bool = False) -> None:
        self.count += 1
        if self.count <= self.cap:
            self.ef.warn(message, line, caveat=caveat)

    def once(self, key: str, message: str, line: int | None = None, *, caveat: bool = False) -> None:
        """Warn about a file-wide condition (e.g. times without a zone) only the first time."""
        if key not in self._once:
            self._once.add(key)
            self(message, line, caveat=caveat)

    def finish(self) -> None:
        if self.count > self.cap:
            self.ef.warn(f"{self.count - self.cap} more warnings like the above were not listed")
            self.count = self.cap  # a second finish() must not repeat the summary


def guarded(ef: EvidenceFile, records: Iterator[Record], warner: Warner | None = None) -> Iterator[Record]:
    """Run a reader's generator so that a bug in it costs the rest of the file, not the diagnosis.

    Readers are written not to raise; this is the last line of defence that the contract
    ("never raise on any input") demands, and it keeps the records already produced.
    """
    try:
        yield from records
    except Exception as exc:
        ef.warn(f"internal: reading stopped early ({type(exc).__name__}: {exc}); earlier records were kept")
    finally:
        if warner is not None:
            warner.finish()


class GuardedReader:
    """Base of the structured readers: ``read`` runs the subclass's ``_read`` under
    :func:`guarded` with one :class:`Warner` per file, so no reader repeats that wiring."""

    def read(self, ef: EvidenceFile) -> Iterator[Record]:
        warn = Warner(ef)
        return guarded(ef, self._read(ef, warn), warn)

    def _read(self, ef: EvidenceFile, warn: Warner) -> Iterator[Record]:
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# Text decoding
# --------------------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """Decode bytes from Windows or ESXi tools, honouring BOMs.

    Windows PowerShell 5.1 writes UTF-16LE with a BOM for ``>`` and ``Out-File``; ``Export-Csv``
    writes ASCII or UTF-8 with a BOM. A UTF-16 file without a BOM is recognised by its zero bytes.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le", "replace")
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be", "replace")
    sample = data[:512]
    if len(sample) >= 8:
        even_zero = sample[1::2].count(0)
        odd_zero = sample[0::2].count(0)
        half = len(sample) // 2
        if even_zero > 0.4 * half and odd_zero < 0.05 * half:
            return data.decode("utf-16-le", "replace")
        if odd_zero > 0.4 * half and even_zero < 0.05 * half:
            return data.decode("utf-16-be", "replace")
    return data.decode("utf-8", "replace")


def head_text(head: bytes) -> str:
    """The sniffing bytes as text. A UTF-16 head may end mid-character; that costs nothing."""
    if len(head) % 2 and (head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[1:64:2].count(0) > 8):
        head = head[:-1]
    return decode(head)


def read_text(ef: EvidenceFile, warn: Warner, limit: int = TEXT_LIMIT) -> str | None:
    """The whole (decompressed, decoded) file, or ``None`` with a warning when over ``limit``."""
    out = bytearray()
    for block in ef.blocks():
        out += block
        if len(out) > limit:
            warn(f"larger than {limit // (1024 * 1024)} MiB, too big for this kind of evidence; skipped")
            return None
    return decode(bytes(out))


class LineIndex:
    """Line numbers of character offsets, counted incrementally (offsets mostly increase).

    Avoids materialising a table of every line start for a multi-megabyte export.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._pos = 0
        self._line = 1

    def line_of(self, pos: int) -> int:
        pos = max(0, min(pos, len(self.text)))
        if pos >= self._pos:
            self._line += self.text.count("\n", self._pos, pos)
        else:
            self._line -= self.text.count("\n", pos, self._pos)
        self._pos = pos
        return self._line


# --------------------------------------------------------------------------------------------
# Keys and scalar values
# --------------------------------------------------------------------------------------------

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def norm_key(key: object) -> str:
    """``Array Id``, ``ArrayId``, ``array_id`` and ``arrayId`` all become ``arrayid``."""
    if isinstance(key, str) and len(key) <= 64:
        return _norm_short(key)  # export keys repeat in every entry: cache them
    return _NON_ALNUM.sub("", str(key).lower())


@lru_cache(maxsize=4096)
def _norm_short(key: str) -> str:
    return _NON_ALNUM.sub("", key.lower())


def norm_dict(obj: object) -> dict[str, Any]:
    """A dict with normalised keys (first spelling wins); anything else becomes ``{}``."""
    if not isinstance(obj, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out.setdefault(norm_key(key), value)
    return out


def first(d: dict[str, Any], *keys: str) -> Any:
    """The first present, non-empty value among normalised ``keys``."""
    for key in keys:
        value = d.get(key)
        if value is not None and value != "" and value != [] and value != {}:
            return value
    return None


#: What ConvertTo-Json prints for an object deeper than its -Depth: the .NET type name.
_TYPE_NAME = re.compile(r"^(?:VMware|System)\.[A-Za-z0-9_.]+(?:\[\])?$")


def text_of(value: object) -> str | None:
    """A scalar as text. PowerShell wraps some values in objects ({"value": ..., "Value": ...})."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        d = norm_dict(value)
        for key in ("value", "name", "string", "displayname", "localizedmessage", "message"):
            inner = d.get(key)
            if isinstance(inner, str | int | float) and not isinstance(inner, bool):
                return text_of(inner)
    return None


def name_of(value: object) -> str | None:
    """The name of a referenced object: ``{"Name": "esx01", "Host": {...}}`` or a plain string.

    A ``VMware.Vim.HostEventArgument`` string is what ConvertTo-Json leaves when the object was
    deeper than its -Depth; it names a type, not a host, so it is treated as missing.
    """
    if isinstance(value, dict):
        d = norm_dict(value)
        return text_of(first(d, "name", "displayname", "entityname"))
    text = text_of(value)
    if text is None or _TYPE_NAME.match(text):
        return None
    return text


_TRUE = {"true", "yes", "y", "1", "on", "enabled"}
_FALSE = {"false", "no", "n", "0", "off", "disabled"}


def parse_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    text = text_of(value)
    if text is None:
        return None
    low = text.lower()
    return True if low in _TRUE else False if low in _FALSE else None


def parse_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = text_of(value)
    if text is None:
        return None
    try:
        return int(text.replace(",", "").replace("_", ""))
    except ValueError:
        return None


#: SMS ``VasaProviderStatus`` values in their canonical spelling, keyed by normalised form.
_PROVIDER_STATUS = {
    norm_key(s): s for s in ("online", "offline", "syncError", "unknown", "connected", "disconnected")
}


def provider_status(value: object) -> str | None:
    """``Online``, ``online``, ``SyncError``, ``sync error`` -> the SMS enum spelling.

    An unrecognised status is kept as written (stripped): it is still evidence.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        order = ("online", "offline", "syncError", "unknown", "connected", "disconnected")
        return order[value] if 0 <= value < len(order) else str(value)
    text = text_of(value)
    if text is None:
        return None
    return _PROVIDER_STATUS.get(norm_key(text), text[:80])


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------

_MS_DATE = re.compile(r"^\\?/?Date\((-?\d{1,16})([+-]\d{4})?\)\\?/?$")
_NUMERIC_DATE = re.compile(
    r"""^(?P<a>\d{1,4})[./-](?P<b>\d{1,2})[./-](?P<c>\d{1,4})\.?,?[ T]+
        (?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?
        \s*(?P<ampm>[AaPp]\.?\s?[Mm]\.?)?
        \s*(?P<tz>Z|UTC|GMT|[+-]\d{2}:?\d{2})?$""",
    re.VERBOSE,
)
_NAMED_FORMATS = (
    "%b %d, %Y, %I:%M:%S %p",
    "%b %d, %Y %I:%M:%S %p",
    "%B %d, %Y %I:%M:%S %p",
    "%A, %B %d, %Y %I:%M:%S %p",
    "%d %b %Y %H:%M:%S",
    "%d %B %Y %H:%M:%S",
    "%a %b %d %H:%M:%S %Y",
)


def guess_dayfirst(values: Iterable[str]) -> bool | None:
    """Decide ``d/m`` versus ``m/d`` for a whole column, as a person reading it would.

    A locale-formatted export uses one order throughout, so one unambiguous value (a first part
    over 12 means day-first) settles every ambiguous one.
    """
    for value in values:
        match = _NUMERIC_DATE.match(value.strip()) if isinstance(value, str) else None
        if not match or len(match.group("a")) == 4:
            continue
        a, b = int(match.group("a")), int(match.group("b"))
        if a > 12 >= b:
            return True
        if b > 12 >= a:
            return False
    return None


def parse_tz(text: str) -> tzinfo:
    """``--tz``: an IANA zone (``Europe/Berlin``), ``UTC``/``Z``, or an offset (``+02:00``,
    ``-0500``, ``UTC+2``). Raises ``ValueError`` with a message meant for the user.

    Why: the vSphere Client writes task times in the browser's zone without saying which; only
    the person who exported them knows, and a one-hour error moves every failure out of the
    vvold window it belongs to.
    """
    value = text.strip()
    if value.upper() in ("UTC", "Z", "GMT"):
        return UTC
    offset = _TZ_OFFSET.fullmatch(value)
    if offset:
        hours, minutes = int(offset.group("h")), int(offset.group("m") or 0)
        if hours > 14 or minutes > 59:
            raise ValueError(f"{text!r} is not a UTC offset (at most ±14:00)")
        sign = -1 if offset.group("sign") == "-" else 1
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{text!r} is neither a time zone name (such as Europe/Berlin) nor an offset (such as +02:00)"
        ) from None


_TZ_OFFSET = re.compile(r"(?:UTC|GMT)?(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?", re.IGNORECASE)


def tz_name(tz: tzinfo) -> str:
    """How a zone is named back to the user (``Europe/Berlin``, ``UTC+02:00``)."""
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) else str(tz.tzname(None) or tz)


def _localise(naive: datetime, tz: tzinfo | None) -> datetime:
    return naive.replace(tzinfo=tz or UTC).astimezone(UTC)


def parse_datetime(
    value: object, dayfirst: bool | None = None, tz: tzinfo | None = None
) -> tuple[datetime | None, bool]:
    """Parse any date the supported tools write; returns ``(utc_datetime, had_zone)``.

    A time without a zone (browser-locale CSV exports) is taken in ``tz`` (the user's ``--tz``),
    else as UTC; ``had_zone`` is False so the reader can say so once. ``None`` when the value is
    not a date.
    """
    if isinstance(value, dict):
        d = norm_dict(value)
        value = first(d, "value", "datetime")
    if isinstance(value, int | float) and not isinstance(value, bool):
        # epoch seconds or milliseconds (some exporters write numbers)
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC), True
        except (OverflowError, OSError, ValueError):
            return None, False
    if not isinstance(value, str):
        return None, False
    text = value.strip()
    if not text or len(text) > 64:
        return None, False
    ms = _MS_DATE.match(text)
    if ms:
        # \/Date(ms+0100)\/: the number is UTC milliseconds; the offset only says where it was shown
        try:
            return datetime.fromtimestamp(int(ms.group(1)) / 1000, UTC), True
        except (OverflowError, OSError, ValueError):
            return None, False
    if text[:4].isdigit() and len(text) >= 10 and text[4] == "-":
        try:
            parsed = datetime.fromisoformat(text.replace(" UTC", "Z"))
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is None:
                return _localise(parsed, tz), False
            return parsed.astimezone(UTC), True
    numeric = _NUMERIC_DATE.match(text)
    if numeric:
        return _from_numeric(numeric, dayfirst, tz)
    for fmt in _NAMED_FORMATS:
        try:
            return _localise(datetime.strptime(text, fmt), tz), False
        except ValueError:
            continue
    return None, False


def _from_numeric(
    match: re.Match[str], dayfirst: bool | None, assume: tzinfo | None = None
) -> tuple[datetime | None, bool]:
    a, b, c = match.group("a"), int(match.group("b")), match.group("c")
    ampm = match.group("ampm")
    if len(a) == 4:
        year, month, day = int(a), b, int(c)
    else:
        year = int(c) + (2000 if len(c) <= 2 else 0)
        first_part = int(a)
        if dayfirst is None:
            if first_part > 12:
                dayfirst = True
            elif b > 12:
                dayfirst = False
            else:  # US browsers write AM/PM and month first; most others day first
                dayfirst = ampm is None
        day, month = (first_part, b) if dayfirst else (b, first_part)
    hour, minute = int(match.group("H")), int(match.group("M"))
    second = int(match.group("S") or 0)
    micro = int((match.group("f") or "0")[:6].ljust(6, "0"))
    if ampm:
        pm = ampm[0] in "Pp"
        if not 1 <= hour <= 12:
            return None, False
        hour = hour % 12 + (12 if pm else 0)
    tz_text = match.group("tz")
    tz: tzinfo = UTC if tz_text else (assume or UTC)
    if tz_text and tz_text not in ("Z", "UTC", "GMT"):
        sign = 1 if tz_text[0] == "+" else -1
        digits = tz_text[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        parsed = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError:
        return None, False
    return parsed.astimezone(UTC), tz_text is not None


class Dates:
    """Date parsing for one file: one day/month order, one zone for times without one, and one
    warning that such times were found (kept even with ``--tz``: the zone is the user's word)."""

    def __init__(self, warn: Warner, dayfirst: bool | None = None, tz: tzinfo | None = None) -> None:
        self.warn = warn
        self.dayfirst = dayfirst
        self.tz = tz

    def __call__(self, value: object, line: int | None = None, what: str = "time") -> datetime | None:
        if value is None or value == "":
            return None
        parsed, had_zone = parse_datetime(value, self.dayfirst, self.tz)
        if parsed is None:
            shown = str(value)[:60]
            self.warn(f"{what} {shown!r} is not a date this reader knows; left empty", line)
            return None
        if not had_zone:
            self.warn.once("naive-time", naive_time_message(self.tz), line, caveat=True)
        return parsed


def naive_time_message(tz: tzinfo | None) -> str:
    """The one warning about local times, saying which zone was assumed and how to change it."""
    if tz is None:
        return (
            "times carry no time zone; they were taken as UTC (if the export was written in another "
            "zone, say which with --tz ZONE, e.g. --tz Europe/Berlin or --tz +02:00)"
        )
    return f"times carry no time zone; they were taken as {tz_name(tz)}, as --tz says"


# --------------------------------------------------------------------------------------------
# JSON: top-level items with their line numbers, surviving truncation and damage
# --------------------------------------------------------------------------------------------

_WS = " \t\r\n"
_DECODER = json.JSONDecoder()
#: Resynchronisation attempts after damaged entries before giving up on the rest of a file.
MAX_RESYNC = 1000


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in _WS:
        pos += 1
    return pos


def looks_like_json(text: str) -> bool:
    pos = _skip_ws(text, 0)
    return pos < len(text) and text[pos] in "[{"


def iter_json_items(text: str, warn: Warner, index: LineIndex | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, item)`` for each top-level item: the elements of an array, a single object,
    concatenated objects (JSON lines), or the ``value`` array of a PowerShell wrapper object.

    A damaged entry is skipped with a warning naming its line, and reading resumes at the next
    entry, so a truncated export still gives everything before the cut.
    """
    index = index or LineIndex(text)
    pos = _skip_ws(text, 0)
    if pos >= len(text):
        warn("empty JSON file")
        return
    if text[pos] == "[":
        yield from _iter_array(text, pos, warn, index)
        return
    resyncs = 0
    while pos < len(text):
        if text[pos] != "{":
            warn("unexpected text after the JSON data; ignored", index.line_of(pos))
            return
        try:
            obj, end = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as exc:
            nxt = _skip_damaged(text, pos, exc, warn, index)
            resyncs += 1
            if nxt is None or resyncs > MAX_RESYNC:
                return
            pos = _skip_ws(text, nxt)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_ws(text, pos + 1)
            continue
        wrapped = _powershell_wrapper(obj)
        if wrapped is not None:
            arr = text.find("[", pos)
            if arr >= 0:
                yield from _iter_array(text, arr, warn, index)
        else:
            yield index.line_of(pos), obj
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":  # objects separated by commas without brackets
            pos = _skip_ws(text, pos + 1)


def _powershell_wrapper(obj: object) -> list[Any] | None:
    """``{"value": [...], "Count": n}``: how Windows PowerShell sometimes serialises an array."""
    if isinstance(obj, dict) and isinstance(obj.get("value"), list) and set(obj) <= {"value", "Count"}:
        return obj["value"]
    return None


def _json_reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    return "nested too deeply"


def _iter_array(text: str, pos: int, warn: Warner, index: LineIndex) -> Iterator[tuple[int, Any]]:
    n = len(text)
    pos += 1
    resyncs = 0
    while True:
        pos = _skip_ws(text, pos)
        if pos >= n:
            warn(
                "JSON array is not closed (file cut off?); entries before the cut were used",
                index.line_of(n),
            )
            return
        ch = text[pos]
        if ch == "]":
            rest = _skip_ws(text, pos + 1)
            if rest < n:
                warn("unexpected text after the JSON array; ignored", index.line_of(rest))
            return
        if ch == ",":
            pos += 1
            continue
        try:
            obj, end = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as exc:
            nxt = _skip_damaged(text, pos, exc, warn, index)
            resyncs += 1
            if nxt is None or resyncs > MAX_RESYNC:
                return
            pos = nxt
            continue
        yield index.line_of(pos), obj
        pos = end


_SIGNIFICANT = re.compile(r'[\\"{}\[\]]')


def _skip_damaged(text: str, pos: int, exc: BaseException, warn: Warner, index: LineIndex) -> int | None:
    """Warn about the damaged entry at ``pos`` and return where it ends (by bracket balance).

    ``None`` when the entry never closes: the file was cut off there.
    """
    start_line = index.line_of(pos)
    end = _value_end(text, pos)
    if end is None:
        warn(f"JSON entry is cut off ({_json_reason(exc)}); entries before it were used", start_line)
        return None
    err_line = index.line_of(min(getattr(exc, "pos", pos), end))
    warn(f"JSON entry starting at line {start_line} is damaged ({_json_reason(exc)}); skipped", err_line)
    return end


def _value_end(text: str, pos: int) -> int | None:
    """End offset of the JSON object/array at ``pos``, tracking strings and escapes only."""
    depth = 0
    in_string = False
    skip_to = -1
    for match in _SIGNIFICANT.finditer(text, pos):
        j = match.start()
        if j < skip_to:
            continue
        c = text[j]
        if in_string:
            if c == "\\":
                skip_to = j + 2
            elif c == '"':
                in_string = False
            continue
        if c == '"':
            in_string = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth <= 0:
                return j + 1
    return None


def cite_text(obj: object) -> str:
    """What a citation of a JSON entry shows: the entry, compactly.

    The line where an entry starts is usually just ``{``, which tells a reader nothing; the
    citation's line number still points at that line, so the entry can be found in the file.
    """
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)[:2000]
    except (TypeError, ValueError, RecursionError):
        return str(obj)[:2000]


# --------------------------------------------------------------------------------------------
# CSV: header-driven rows with the line where each row starts
# --------------------------------------------------------------------------------------------

_DELIMS = (",", ";", "\t", "|")


def _delimiter(header: str) -> str:
    """The delimiter of a header line (``Export-Csv -UseCulture`` writes ``;`` in many locales)."""
    counts = {d: header.count(d) for d in _DELIMS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def iter_csv_rows(
    text: str, warn: Warner, accept_header: Callable[[list[str]], bool] | None = None
) -> tuple[list[str], Iterator[tuple[int, dict[str, str], str]]] | None:
    """Header and rows of a CSV export: ``(header, iter((line, {norm_key: value}, raw_line)))``.

    Skips the ``#TYPE ...`` line ``Export-Csv`` writes, and blank lines before the header. Rows
    spanning lines (quoted newlines) are cited at their first line. ``None`` if no header is found.
    """
    lines = [line.rstrip("\r") for line in text.split("\n")]
    start = 0
    while start < len(lines) and (not lines[start].strip() or lines[start].startswith("#TYPE")):
        start += 1
    if start >= len(lines):
        return None
    delim = _delimiter(lines[start][:10000])
    try:
        header = next(csv.reader([lines[start]], delimiter=delim))
    except (csv.Error, StopIteration):
        return None
    header = [h.strip().lstrip("\ufeff") for h in header]
    if accept_header is not None and not accept_header(header):
        return None
    keys = [norm_key(h) for h in header]
    return header, _csv_rows(lines, start, delim, keys, warn)


def _csv_rows(
    lines: list[str], start: int, delim: str, keys: list[str], warn: Warner
) -> Iterator[tuple[int, dict[str, str], str]]:
    numbered = iter(range(start + 1, len(lines)))
    consumed = start + 1  # 1-based number of the last line handed to csv

    def feed() -> Iterator[str]:
        nonlocal consumed
        for i in numbered:
            consumed = i + 1
            yield lines[i] + "\n"  # keeps the newline inside a quoted multi-line cell

    reader = csv.reader(feed(), delimiter=delim)
    errors = 0
    while True:
        row_start = consumed + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors += 1
            warn(f"unreadable CSV row ({exc}); skipped", row_start)
            if errors > MAX_RESYNC:
                return
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(keys) and any(cell.strip() for cell in row[len(keys) :]):
            warn(f"row has {len(row)} cells but the header has {len(keys)}; extra cells ignored", row_start)
        record = {k: (row[i].strip() if i < len(row) else "") for i, k in enumerate(keys) if k}
        yield row_start, record, lines[row_start - 1] if row_start - 1 < len(lines) else ""


def is_csv_header(line: str, required: Iterable[set[str]], minimum: int = 2) -> bool:
    """True when a header line names at least ``minimum`` of the column groups in ``required``.

    Each group is a set of normalised alternative names for one column.
    """
    if not line or len(line) > 20000:
        return False
    try:
        cells = next(csv.reader([line], delimiter=_delimiter(line)))
    except (csv.Error, StopIteration):
        return False
    names = {norm_key(c.strip().lstrip("\ufeff")) for c in cells}
    return sum(1 for group in required if names & group) >= minimum


def first_data_line(text: str) -> str:
    """The header line of a CSV export (after ``#TYPE`` and blank lines)."""
    for line in text.split("\n", 20)[:20]:
        line = line.rstrip("\r")
        if line.strip() and not line.startswith("#TYPE"):
            return line
    return ""
