"""Facts every renderer shows, computed once, so terminal, Markdown and HTML never disagree.

The renderers all take a :class:`~vvolguard.analysis.model.Diagnosis`. Its ``signals`` dict is
free-form data (documented on the field): times may be ``datetime`` objects (straight from the
analysis) or ISO strings (a Diagnosis rebuilt from JSON), and any value may be missing. The helpers
here absorb those differences so each renderer only decides how things look.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vvolguard.analysis.model import Diagnosis, FailureClass, Severity
from vvolguard.evidence import logline as ll
from vvolguard.records import Citation

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
                host=entry.get("host"),
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
