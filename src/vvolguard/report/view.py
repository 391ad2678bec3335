"""Facts every renderer shows, computed once, so terminal, Markdown and HTML never disagree.

The renderers all take a :class:`~vvolguard.analysis.model.Diagnosis`. Its ``signals`` is a
plain dict typed by :class:`~vvolguard.analysis.model.Signals`: times may be ``datetime`` objects
(straight from the analysis) or ISO strings (a Diagnosis rebuilt from JSON), and any value may be
missing. The helpers here absorb those differences so each renderer only decides how things look.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vvolguard.analysis.migrations import host_key
from vvolguard.analysis.model import UNNAMED_HOST, Diagnosis, FailedMigration, FailureClass, Severity
from vvolguard.evidence import logline as ll
from vvolguard.records import Citation, ReadWarning

#: How a person reads each class in a headline.
CLASS_LABELS: dict[str, str] = {
    FailureClass.PROVIDER_SATURATION: "VASA provider saturation",
    FailureClass.PROVIDER_REGISTRATION: "VASA provider registration / trust",
    FailureClass.PE_PRESENTATION: "Protocol Endpoint presentation",
    FailureClass.CERTIFICATE_LIFECYCLE: "VASA certificate lifecycle",
    FailureClass.NOT_CONTROL_PLANE: "Not the vVol control plane",
    FailureClass.HEALTHY: "Healthy",
    FailureClass.INSUFFICIENT_EVIDENCE: "Insufficient evidence",
}

#: When no finding carries a severity, the class alone says how alarming the verdict is.
_CLASS_SEVERITY: dict[str, Severity] = {
    FailureClass.PROVIDER_SATURATION: Severity.HIGH,
    FailureClass.PROVIDER_REGISTRATION: Severity.HIGH,
    FailureClass.PE_PRESENTATION: Severity.HIGH,
    FailureClass.CERTIFICATE_LIFECYCLE: Severity.MEDIUM,
    FailureClass.NOT_CONTROL_PLANE: Severity.LOW,
    FailureClass.HEALTHY: Severity.INFO,
    FailureClass.INSUFFICIENT_EVIDENCE: Severity.LOW,
}


def class_label(cls: str | None) -> str:
    if not cls:
        return "Unknown"
    return CLASS_LABELS.get(cls, cls.replace("-", " ").capitalize())


def verdict_severity(d: Diagnosis) -> Severity:
    """The severity that colours the headline: the primary finding's, else the class default."""
    primary = d.primary
    if primary is not None:
        return Severity(primary.severity)
    return _CLASS_SEVERITY.get(d.verdict.cls, Severity.MEDIUM)


def verdict_tone(d: Diagnosis) -> str:
    """The colour of the headline, which is not quite the severity: only ``healthy`` may look
    green (an "info" finding that says *we cannot tell* must not read as all-clear), and
    ``insufficient-evidence`` always looks like a question (amber), whatever its severity.

    Returns a Severity value, or ``"unknown"`` for insufficient evidence."""
    if d.verdict.cls == FailureClass.HEALTHY:
        return Severity.INFO.value
    if d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE:
        return "unknown"
    sev = verdict_severity(d)
    return Severity.LOW.value if sev == Severity.INFO else sev.value


def as_datetime(value: Any) -> datetime | None:
    """Accept a datetime or an ISO-8601 string (``Z`` allowed); anything else is ``None``."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def fmt_time(value: Any, *, seconds: bool = True) -> str:
    """UTC wall-clock time as admins compare it with vCenter task lists."""
    dt = as_datetime(value)
    if dt is None:
        return "—"
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + "Z"


def fmt_clock(value: Any) -> str:
    """Time of day only, for tables that already state the date elsewhere."""
    dt = as_datetime(value)
    return "—" if dt is None else dt.astimezone(UTC).strftime("%H:%M:%S")


def fmt_ms(ms: Any) -> str:
    """Latency in the unit a person thinks in: ``850 ms``, ``40.1 s``, ``12.5 min``."""
    if not isinstance(ms, int | float) or isinstance(ms, bool) or math.isnan(ms):
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 600_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def fmt_int(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    if isinstance(value, float) and math.isnan(value):
        return "—"
    return f"{value:,.0f}"


def fmt_pct(confidence: Any) -> str:
    if not isinstance(confidence, int | float):
        return "—"
    return f"{confidence * 100:.0f}%"


def cite_ref(c: Citation) -> str:
    """``file:line`` (or just ``file``) so a person can open the line again."""
    return f"{c.file}:{c.line}" if c.line else c.file


def short_ref(c: Citation) -> str:
    """``cite_ref`` for a narrow terminal: the archive's file name instead of its full path, and
    the bundle's own root folder (which repeats the archive name) folded to ``…``.

    ``/tmp/x/esx-a-2026-03-14--10.22-1.tgz!esx-a-2026-03-14--10.22-1/var/run/log/vvold.log:127``
    becomes ``esx-a-2026-03-14--10.22-1.tgz!…/var/run/log/vvold.log:127``. JSON and the escalation
    package keep the full path.
    """
    archive, sep, member = c.file.partition("!")
    if not sep:
        return cite_ref(c)
    name = archive.rsplit("/", 1)[-1]
    stem = name
    for suffix in (".tgz", ".tar.gz", ".tar", ".zip"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    head, slash, rest = member.partition("/")
    if slash and head == stem:
        member = "…/" + rest
    short = f"{name}!{member}"
    return f"{short}:{c.line}" if c.line else short


#: An ESXi log line's level, ``app[pid]`` and ``[meta]`` after its time: 60-80 columns that tell
#: a person reading a terminal nothing the file name and the message do not.
_LOG_HEADER_RE = re.compile(
    rf"^((?:[^\s:]+:)?(?:\d+:)?{ll.TS_PATTERN})\s+(?:{ll.LEVEL_PATTERN})\s+[A-Za-z][\w.-]*\[\d+\]:?\s*"
    rf"(-->\s?)?(?:\[{ll.META_PATTERN}\]\s?)?"
)


def short_text(c: Citation) -> str:
    """The cited line for a narrow terminal: an ESXi log line keeps its time and message and
    loses its level, ``app[pid]`` and ``[meta]``; anything else is shown as it is. JSON,
    Markdown, HTML and the escalation package keep the line itself."""
    return _LOG_HEADER_RE.sub(lambda m: f"{m[1]} {m[2] or ''}", c.text, count=1)


def window_text(d: Diagnosis) -> str | None:
    if not d.incident_window:
        return None
    start, end = d.incident_window
    return f"{fmt_time(start)} → {fmt_time(end)}"


@dataclass(frozen=True)
class ProviderRow:
    """One (host, provider) pair from ``signals.per_provider``, flattened for tables."""

    host: str | None
    vp: str
    ceiling: int | None
    max_outstanding: int | None
    at_ceiling_seconds: float | None
    issued: int | None
    no_free_conn: int | None
    busy: int | None
    timeout: int | None
    failure: int | None
    transport: int | None
    ssl: int | None
    create_count: int | None
    create_p50: float | None
    create_p95: float | None
    create_max: float | None

    @property
    def saturated(self) -> bool:
        return (
            self.ceiling is not None
            and self.max_outstanding is not None
            and self.max_outstanding >= self.ceiling
        )


def _num(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def provider_rows(d: Diagnosis) -> list[ProviderRow]:
    """Signals per (host, provider), most pressured first so the culprit is the top row."""
    rows: list[ProviderRow] = []
    for entry in (d.signals or {}).get("per_provider") or []:
        if not isinstance(entry, dict):
            continue
        counts = entry.get("counts") or {}
        lat = entry.get("create_latency_ms") or {}
        rows.append(
            ProviderRow(
                host=entry.get("host") or UNNAMED_HOST,
                vp=str(entry.get("vp") or "?"),
                ceiling=_num(entry.get("ceiling")),
                max_outstanding=_num(entry.get("max_outstanding")),
                at_ceiling_seconds=_num(entry.get("at_ceiling_seconds")),
                issued=_num(counts.get("issue")),
                no_free_conn=_num(counts.get("no_free_conn")),
                busy=_num(counts.get("busy")),
                timeout=_num(counts.get("timeout")),
                failure=_num(counts.get("failure")),
                transport=_num(counts.get("transport")),
                ssl=_num(counts.get("ssl")),
                create_count=_num(lat.get("count")),
                create_p50=_num(lat.get("p50")),
                create_p95=_num(lat.get("p95")),
                create_max=_num(lat.get("max")),
            )
        )

    def pressure(r: ProviderRow) -> tuple[float, ...]:
        return (
            -(1 if r.saturated else 0),
            -float(r.no_free_conn or 0) - float(r.busy or 0) - float(r.timeout or 0),
            -float(r.create_p95 or 0),
        )

    return sorted(rows, key=lambda r: (*pressure(r), r.vp, r.host or ""))


def key_facts(d: Diagnosis) -> list[str]:
    """The handful of numbers that tell the story at a glance (storm, ceiling, latency, failures),
    shown above the plots so the reader knows what to look for in them."""
    facts: list[str] = []
    for s in d.migrations.storms[:3]:
        facts.append(
            f"{s.source_host}: {s.migrations} migrations, peak {s.peak_concurrency} at once, "
            f"{fmt_clock(s.start)}–{fmt_clock(s.end)}"
        )
    rows = provider_rows(d)
    for r in [r for r in rows if r.saturated][:3]:
        where = f"{r.vp} on {r.host}" if r.host else r.vp
        held = r.at_ceiling_seconds or 0
        state = (
            f"at its ceiling of {r.ceiling} for {_seconds(held)}"
            if held >= 1
            else f"reached its ceiling of {r.ceiling}"
        )
        waits = f"; {fmt_int(r.no_free_conn)} waits for a connection" if r.no_free_conn else ""
        facts.append(f"{where} {state}{waits}")
    slowest = max(
        (r for r in rows if r.create_max is not None), key=lambda r: r.create_max or 0, default=None
    )
    if slowest is not None and (slowest.create_max or 0) >= 1000:
        where = f"{slowest.vp} on {slowest.host}" if slowest.host else slowest.vp
        facts.append(
            f"createVirtualVolume up to {fmt_ms(slowest.create_max)} (p95 {fmt_ms(slowest.create_p95)}) "
            f"on {where}"
        )
    for p in d.providers[:5]:
        by_status: dict[str, list[str]] = {}
        for observer, status in sorted((p.status or {}).items()):
            if str(status).lower() != "online":
                by_status.setdefault(str(status), []).append(observer)
        for status, observers in by_status.items():
            facts.append(f"{p.name} {status} as seen by {', '.join(observers)}")
    for pe in d.protocol_endpoints:
        problems = [
            w
            for w, ok in (("not accessible", pe.accessible), ("not configured", pe.configured))
            if ok is False
        ]
        if problems and len(facts) < 8:
            facts.append(f"PE {pe.pe_id} on {pe.host or '?'}: {', '.join(problems)}")
    n = len(d.migrations.failed)
    if n:
        times = sorted(t for f in d.migrations.failed if (t := as_datetime(f.time)))
        span = ""
        if times:
            span = fmt_clock(times[0]) if len(times) == 1 else f"{fmt_clock(times[0])}–{fmt_clock(times[-1])}"
            span = f" ({span})"
        facts.append(f"{n} failed migration{'s' if n > 1 else ''}{span}")
    return facts


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def next_moves(d: Diagnosis) -> list[str]:
    """The verdict's moves first, then the other findings', without repeats."""
    primary = d.primary
    ordered = ([primary] if primary else []) + [f for f in d.findings if f is not primary]
    moves: list[str] = []
    for f in ordered:
        moves += [m for m in f.next_moves if m not in moves]
    return moves


def head(items: Iterable[Any], n: int) -> tuple[list[Any], int]:
    """The first ``n`` items and how many were left out."""
    items = list(items)
    return items[:n], max(0, len(items) - n)


# --------------------------------------------------------------------------------------------
# warnings: not used vs used with a caveat
# --------------------------------------------------------------------------------------------


def split_warnings(d: Diagnosis) -> tuple[list[ReadWarning], list[ReadWarning]]:
    """``(not_used, caveats)``: input (or lines of it) that could not be used, and input that was
    used with something to keep in mind (``ReadWarning.caveat``, e.g. times without a zone)."""
    not_used = [w for w in d.warnings if not getattr(w, "caveat", False)]
    caveats = [w for w in d.warnings if getattr(w, "caveat", False)]
    return not_used, caveats


# --------------------------------------------------------------------------------------------
# the provider at its ceiling: one wording for the table, the facts and the plot
# --------------------------------------------------------------------------------------------


def ceiling_text(r: ProviderRow) -> str:
    """How long the provider sat at its ceiling, said so that it agrees with the plot's band.

    The plot shades every time cell in which ``#outstanding`` reached the ceiling; the signal
    ``at_ceiling_seconds`` measures how long it stayed there. A provider that touched the ceiling
    for less than a second must not read "0 s" beside a shaded band: it reads "reached"."""
    if not r.saturated:
        return "—"
    held = r.at_ceiling_seconds or 0
    return _seconds(held) if held >= 1 else "reached, < 1 s"


# --------------------------------------------------------------------------------------------
# failed migrations: numbered in time order, with the signals of their own span
# --------------------------------------------------------------------------------------------


def numbered_failures(d: Diagnosis) -> list[tuple[int, FailedMigration]]:
    """Failed migrations in time order, numbered from 1: the numbers the plots' failure lines
    carry, so a line and a table row can be matched. Failures without a time come last."""
    far = datetime.max.replace(tzinfo=UTC)
    ordered = sorted(d.migrations.failed, key=lambda f: as_datetime(f.time) or far)
    return list(enumerate(ordered, 1))


def failure_label(numbers: list[int]) -> str:
    """``3``, ``3, 4`` or ``3–7`` for failure lines drawn too close together to label one by one."""
    if len(numbers) == 1:
        return str(numbers[0])
    if len(numbers) == 2:
        return f"{numbers[0]}, {numbers[1]}"
    return f"{numbers[0]}–{numbers[-1]}"


@dataclass(frozen=True)
class HostSpan:
    """What one host's vvold.log showed while one migration ran (summed over its time cells)."""

    host: str
    role: str  # "source" or "destination"
    covered: bool  # a vvold.log of this host has cells in the span
    failed: int = 0
    waits: int = 0
    busy: int = 0
    timeouts: int = 0
    outstanding_max: int | None = None
    ceiling: int | None = None
    create_max_ms: float | None = None

    def text(self) -> str:
        """``esx01 (source): 8 waits for a connection, 3 PROVIDER_BUSY, at its ceiling of 5``."""
        who = f"{self.host} ({self.role})"
        if not self.covered:
            return f"{who}: no vvold.log covers this time"
        parts = []
        if self.failed:
            parts.append(_count(self.failed, "failed VASA operation", "failed VASA operations"))
        if self.waits:
            parts.append(_count(self.waits, "wait for a connection", "waits for a connection"))
        if self.busy:
            parts.append(f"{fmt_int(self.busy)} PROVIDER_BUSY")
        if self.timeouts:
            parts.append(_count(self.timeouts, "timeout", "timeouts"))
        at_ceiling = bool(self.ceiling) and (self.outstanding_max or 0) >= (self.ceiling or 0)
        if at_ceiling:
            parts.append(f"at its ceiling of {self.ceiling} outstanding")
        if not parts:
            parts.append("calm: no failed operations, waits, busy faults or timeouts")
        if not at_ceiling and self.ceiling and self.outstanding_max:
            parts.append(f"at most {self.outstanding_max} of {self.ceiling} outstanding")
        elif not at_ceiling and self.outstanding_max == 0:
            parts.append("nothing outstanding")
        return f"{who}: " + ", ".join(parts)


@dataclass(frozen=True)
class MigrationSignals:
    """The signals that explain one failed migration, for its row in a table."""

    span: str  # the time the counts cover, e.g. "10:10:00–10:10:10 (vvold cells of 10 s)"
    hosts: list[HostSpan]
    slowest_create_ms: float | None
    slowest_create_host: str | None

    def lines(self) -> list[str]:
        out = [h.text() for h in self.hosts]
        if self.slowest_create_ms is not None:
            out.append(
                f"slowest swap-vVol create: {fmt_ms(self.slowest_create_ms)} on {self.slowest_create_host}"
            )
        return out


def migration_signals(d: Diagnosis, f: FailedMigration) -> MigrationSignals | None:
    """Waits, busy faults, timeouts and the ceiling on this migration's source and destination,
    and the slowest swap-vVol create there, within the migration's own run (start to failure).

    Read from the timeline cells (``signals.timeline``), so the numbers are the ones the plots
    draw. Cells are ``bucket_seconds`` wide: a cell counts when it overlaps the run. Without a
    start time the run is taken as the one cell that ends at the failure. ``None`` without a
    failure time or without any host to look at."""
    end = as_datetime(f.time)
    if end is None:
        return None
    signals = d.signals or {}
    bucket = float(_num(signals.get("bucket_seconds")) or 10)
    start = as_datetime(f.start) or end
    if start > end:
        start, end = end, start
    lo, hi = start.timestamp() - bucket, end.timestamp()
    roles = [(h, role) for h, role in ((f.source, "source"), (f.destination, "destination")) if h]
    if not roles:
        return None
    keys = {host_key(h): (h, role) for h, role in reversed(roles)}
    sums: dict[str, dict[str, Any]] = {k: {"covered": False} for k in keys}
    first_cell: float | None = None
    last_cell: float | None = None
    for cell in signals.get("timeline") or []:
        if not isinstance(cell, dict):
            continue
        key = host_key(cell.get("host"))
        if key not in sums:
            continue
        t = as_datetime(cell.get("t"))
        if t is None or not lo < t.timestamp() <= hi:
            continue
        first_cell = t.timestamp() if first_cell is None else min(first_cell, t.timestamp())
        last_cell = t.timestamp() if last_cell is None else max(last_cell, t.timestamp())
        s = sums[key]
        s["covered"] = True
        for name in ("failure", "no_free_conn", "busy", "timeout"):
            s[name] = s.get(name, 0) + int(_num(cell.get(name)) or 0)
        for name in ("outstanding_max", "ceiling", "create_ms_max"):
            value = _num(cell.get(name))
            if value is not None:
                s[name] = max(s.get(name, value), value)
    hosts = []
    for key, (host_name, role) in sorted(keys.items(), key=lambda kv: kv[1][1] != "source"):
        s = sums[key]
        hosts.append(
            HostSpan(
                host=host_name,
                role=role,
                covered=s["covered"],
                failed=s.get("failure", 0),
                waits=s.get("no_free_conn", 0),
                busy=s.get("busy", 0),
                timeouts=s.get("timeout", 0),
                outstanding_max=s.get("outstanding_max"),
                ceiling=s.get("ceiling"),
                create_max_ms=s.get("create_ms_max"),
            )
        )
    slowest = max(
        (h for h in hosts if h.create_max_ms is not None), key=lambda h: h.create_max_ms or 0, default=None
    )
    if first_cell is None or last_cell is None:
        span = f"{fmt_clock(start)}–{fmt_clock(end)}"
    else:
        cells_from = datetime.fromtimestamp(first_cell, UTC)
        cells_to = datetime.fromtimestamp(last_cell + bucket, UTC)
        span = f"{fmt_clock(cells_from)}–{fmt_clock(cells_to)} (vvold.log in {bucket:g}-s steps)"
    return MigrationSignals(
        span=span,
        hosts=hosts,
        slowest_create_ms=slowest.create_max_ms if slowest else None,
        slowest_create_host=slowest.host if slowest else None,
    )


def _count(n: int, one: str, many: str) -> str:
    return f"{fmt_int(n)} {one if n == 1 else many}"


# --------------------------------------------------------------------------------------------
# certificates: every field said for a person
# --------------------------------------------------------------------------------------------

_STATUS_WORDS = {
    "expired": "expired",
    "hard-limit": "inside vCenter's red alarm (under the hard limit)",
    "soft-limit": "inside vCenter's yellow alarm (under the soft limit)",
    "valid": "valid",
}


def days_text(days: Any, when: str, expired: bool | None = None) -> str:
    """``expired 5 days before the incident``, ``29 days left at the incident``. ``expired`` is the
    analysis' own judgement when known: a certificate past notAfter by minutes shows 0.0 days."""
    value = _num(days)
    if value is None:
        return "—"
    whole = abs(value)
    if whole < 1:
        amount = f"{whole * 24:.0f} hours" if whole * 24 >= 1 else "less than an hour"
    else:
        amount = f"{whole:.0f} day{'s' if round(whole) != 1 else ''}"
    if value < 0 if expired is None else expired:
        return f"expired {amount} before {when}"
    return f"{amount} left {'at' if when == 'the incident' else 'as of'} {when}"


def certificate_facts(cert: dict[str, Any], now: Any = None) -> list[tuple[str, str]]:
    """A certificate as label/value pairs a person reads: dates, days left at the incident and
    as of the analysis, the names it covers and whether one is the provider's host, the file.

    Every value is a string made here (never a ``repr``); keys this function does not know are
    shown too, formatted by type, so a new field never appears as Python text."""
    c = dict(cert)
    out: list[tuple[str, str]] = []
    if c.get("provider"):
        out.append(("Provider", str(c.pop("provider"))))
    else:
        c.pop("provider", None)
    out.append(("Subject", str(c.pop("subject", None) or "—")))
    if c.get("issuer"):
        out.append(("Issuer", str(c.pop("issuer"))))
    c.pop("issuer", None)
    out.append(("Valid until", fmt_time(c.pop("not_after", None))))
    status = c.pop("status_at_incident", None)
    days = c.pop("days_left_at_incident", None)
    if status is not None or days is not None:
        out.append(("At the incident", _status_days(status, days, "the incident")))
    status_now = c.pop("status_now", None)
    days_now = c.pop("days_left_now", None)
    if status_now is not None or days_now is not None:
        as_of = fmt_time(now, seconds=False) if as_datetime(now) else "today"
        out.append((f"As of {as_of}", _status_days(status_now, days_now, as_of)))
    names = c.pop("names", None) or []
    out.append(("Names it covers", ", ".join(str(n) for n in names) if names else "none listed"))
    host = c.pop("provider_host", None)
    matches = c.pop("matches_provider", None)
    if matches is True:
        out.append(("Names the provider's host", f"yes ({host})" if host else "yes"))
    elif matches is False:
        out.append(("Names the provider's host", f"NO: the provider is reached as {host}" if host else "NO"))
    elif host:
        out.append(("Provider reached as", str(host)))
    source = c.pop("source", None)
    if source:
        out.append(("Read from", _SOURCE_WORDS.get(str(source), str(source))))
    citation = c.pop("citation", None)
    ref = _citation_ref(citation)
    if ref:
        out.append(("File", ref))
    for key, value in sorted(c.items()):
        out.append((key.replace("_", " ").capitalize(), plain(value)))
    return out


_SOURCE_WORDS = {
    "certificate": "the certificate file",
    "provider": "the provider's registration (SMS / Get-VasaProvider)",
}


def _status_days(status: Any, days: Any, when: str) -> str:
    words = _STATUS_WORDS.get(str(status), str(status)) if status else None
    detail = days_text(days, when, expired=status == "expired" if status else None)
    if words == "expired" or not words:
        return detail
    return f"{words}; {detail}"


def _citation_ref(value: Any) -> str | None:
    if isinstance(value, Citation):
        return cite_ref(value)
    if isinstance(value, dict) and value.get("file"):
        return f"{value['file']}:{value['line']}" if value.get("line") else str(value["file"])
    return None


def plain(value: Any) -> str:
    """Any value as a person reads it: never a Python ``repr`` (``True``, ``None``, ``{'``)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime) or (isinstance(value, str) and as_datetime(value) and "T" in value):
        return fmt_time(value)
    if isinstance(value, int | float):
        return fmt_int(value) if float(value).is_integer() else f"{value:,.2f}"
    if isinstance(value, Citation):
        return cite_ref(value)
    if isinstance(value, dict):
        ref = _citation_ref(value)
        if ref:
            return ref
        return "; ".join(f"{str(k).replace('_', ' ')}: {plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return ", ".join(plain(v) for v in value) or "—"
    return str(value)


def certificate_summary(cert: dict[str, Any]) -> str:
    """One line for a table cell: ``expired 2026-03-09 (5 days before the incident)``."""
    when = fmt_time(cert.get("not_after"), seconds=False)
    days = _num(cert.get("days_left_at_incident"))
    status = cert.get("status_at_incident")
    if days is None:
        return f"valid until {when}"
    if days < 0 or status == "expired":
        return f"expired {when} ({days_text(days, 'the incident', expired=True).removeprefix('expired ')})"
    words = _STATUS_WORDS.get(str(status), "valid") if status else "valid"
    return f"{words} until {when} ({days_text(days, 'the incident')})"
