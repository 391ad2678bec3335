"""The HTML report: one self-contained file that opens anywhere, offline, and can be attached to a
ticket.

Everything is inline (CSS, SVG plots); a Content-Security-Policy forbids loading anything, so even
evidence text that looks like markup cannot fetch or run anything. Jinja2 autoescaping escapes every
value; the only ``|safe`` content is the SVG that :mod:`vvolguard.report.plots` draws, in which
matplotlib escapes the labels it takes from evidence.
"""

from __future__ import annotations

from functools import cache

import jinja2

from vvolguard.analysis.model import Diagnosis, FailureClass
from vvolguard.report.plots import timeline_note, timeline_plots
from vvolguard.report.view import (
    ceiling_text,
    certificate_facts,
    certificate_summary,
    cite_ref,
    class_label,
    fmt_clock,
    fmt_int,
    fmt_ms,
    fmt_pct,
    fmt_time,
    key_facts,
    migration_signals,
    next_moves,
    numbered_failures,
    provider_rows,
    split_warnings,
    verdict_severity,
    verdict_tone,
    window_text,
)

#: Cited lines shown per finding before the rest fold into a <details>.
CITATIONS_SHOWN = 8
WARNINGS_SHOWN = 20
#: Failed migrations listed before the rest fold into a <details>.
FAILED_SHOWN = 50


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("vvolguard.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        pct=fmt_pct,
        ms=fmt_ms,
        int=fmt_int,
        time=fmt_time,
        clock=fmt_clock,
        ref=cite_ref,
        num=_num,
        dur=_dur,
        yesno=_yesno,
        at_ceiling=ceiling_text,
        cert_facts=certificate_facts,
        cert_summary=certificate_summary,
    )
    return env


def render_html(d: Diagnosis) -> str:
    """The whole report as one HTML document (a string; the caller writes it)."""
    from vvolguard import __version__

    not_used, caveats = split_warnings(d)
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            d=d,
            version=__version__,
            label=class_label(d.verdict.cls),
            severity=verdict_severity(d).value,
            tone=verdict_tone(d),
            window=window_text(d),
            moves=next_moves(d),
            plots=timeline_plots(d),
            timeline_note=timeline_note(d),
            facts=key_facts(d),
            rows=provider_rows(d),
            missing_first=d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE,
            citations_shown=CITATIONS_SHOWN,
            warnings_shown=WARNINGS_SHOWN,
            failed_shown=FAILED_SHOWN,
            failures=numbered_failures(d),
            explain=lambda f: migration_signals(d, f),
            not_used=not_used,
            caveats=caveats,
        )
    )


def _num(value: object) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return fmt_int(value)


def _dur(seconds: float | None) -> str:
    if not seconds:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def _yesno(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "NO")
