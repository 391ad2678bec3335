"""Dates as the supported tools write them: ``\\/Date(ms)\\/``, ISO, the browser's locale.

A time without a zone is taken in the user's ``--tz`` (else UTC) and said so once per file;
day/month order is decided per column, as a person reading it would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from vvolguard.evidence.values import first, norm_dict
from vvolguard.evidence.warner import Warn

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

    def __init__(self, warn: Warn, dayfirst: bool | None = None, tz: tzinfo | None = None) -> None:
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
