"""A Markdown summary to paste into a ticket or a chat: short, GitHub-flavoured, no HTML.

Evidence text goes into fenced code blocks (fences longer than any backtick run inside, so a log
line can never close them) or, inline, through :func:`md_escape`, so nothing an evidence file
contains can turn into markup, links or HTML in the ticket.
"""

from __future__ import annotations

import re

from vvolguard.analysis.model import Diagnosis
from vvolguard.report.view import (
    cite_ref,
    class_label,
    fmt_int,
    fmt_ms,
    fmt_pct,
    fmt_time,
    head,
    key_facts,
    next_moves,
    provider_rows,
    split_warnings,
    verdict_severity,
    window_text,
)

CITATIONS_PER_FINDING = 5
FAILED_SHOWN = 15
WARNINGS_SHOWN = 5
PROVIDER_ROWS_SHOWN = 8

#: Characters that start markup anywhere in a line. ``_`` only matters at a word edge (GFM ignores
#: it inside words), so ``PROVIDER_BUSY`` stays readable in a ticket that shows raw Markdown.
_INLINE_SPECIAL = re.compile(r"[\\`*\[\]<>|~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
#: Characters that only start markup (heading, list, quote, rule) at the start of a line.
_LEADING_SPECIAL = re.compile(r"^([#+=>!-]|\d+[.)])")


def md_escape(text: object) -> str:
    """Inline text with Markdown and HTML specials backslash-escaped, on one line."""
    flat = " ".join(str(text).split())
    flat = _INLINE_SPECIAL.sub(lambda m: "\\" + m.group(0), flat)
    return _LEADING_SPECIAL.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], flat)


def _cell(text: object) -> str:
    return md_escape(text) if text not in (None, "") else "—"


def _fence(lines: list[str], info: str = "text") -> list[str]:
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *lines, fence]


def render_markdown(d: Diagnosis) -> str:
    sev = verdict_severity(d).value
    out: list[str] = [
        f"## vvolguard: {md_escape(class_label(d.verdict.cls))} "
        f"({md_escape(d.verdict.cls)}, confidence {fmt_pct(d.verdict.confidence)}, severity {sev})",
        "",
        f"> {md_escape(d.verdict.summary)}" if d.verdict.summary else "> (no summary)",
        "",
    ]
    highlights = key_facts(d)
    if highlights:
        out += [f"- {md_escape(f)}" for f in highlights] + [""]
    facts = []
    if (window := window_text(d)) is not None:
        facts.append(f"**Window:** {md_escape(window)}")
    if d.hosts:
        facts.append(f"**Hosts:** {md_escape(', '.join(d.hosts))}")
    if d.migrations.total:
        m = d.migrations
        facts.append(f"**Migrations:** {m.total} total, {len(m.failed)} failed, {m.succeeded} succeeded")
    if d.providers:
        facts.append(f"**Providers:** {md_escape(', '.join(p.name for p in d.providers))}")
    if facts:
        out += [" · ".join(facts), ""]

    if d.findings:
        out += ["### Key evidence", ""]
        for f in d.findings:
            out.append(
                f"**{md_escape(f.title)}** ({md_escape(f.severity)}, {fmt_pct(f.confidence)}): "
                f"{md_escape(f.reason)}"
            )
            shown, rest = head(f.citations, CITATIONS_PER_FINDING)
            if shown:
                out.append("")
                out += _fence([f"{cite_ref(c)}  {' '.join(c.text.split())}" for c in shown])
            if rest:
                out += [
                    "",
                    f"_…and {rest} more cited line{'s' if rest > 1 else ''} in the JSON/HTML report._",
                ]
            out.append("")

    moves = next_moves(d)
    if moves:
        out += ["### Next moves", ""]
        out += [f"{i}. {md_escape(move)}" for i, move in enumerate(moves, 1)]
        out.append("")

    if d.migrations.failed:
        m = d.migrations
        out += [f"### Failed migrations ({len(m.failed)} of {m.total or '?'})", ""]
        out += ["| Task | VM | Source → destination | Time (UTC) | Error |", "|---|---|---|---|---|"]
        shown, rest = head(m.failed, FAILED_SHOWN)
        for f in shown:
            route = f"{_cell(f.source)} → {_cell(f.destination)}"
            out.append(
                f"| {_cell(f.task_id)} | {_cell(f.vm)} | {route} | {md_escape(fmt_time(f.time))} "
                f"| {_cell(f.error)} |"
            )
        if rest:
            out += ["", f"_…and {rest} more failed migrations._"]
        out.append("")

    rows = provider_rows(d)
    if rows:
        out += [
            "### VASA signals per provider",
            "",
            "| Provider | Host | Ceiling | Max outstanding | Waits | Busy | Timeouts "
            "| create p50 / p95 / max |",
            "|---|---|--:|--:|--:|--:|--:|--:|",
        ]
        shown, rest = head(rows, PROVIDER_ROWS_SHOWN)
        for r in shown:
            peak = fmt_int(r.max_outstanding)
            out.append(
                f"| {_cell(r.vp)} | {_cell(r.host)} | {fmt_int(r.ceiling)} | "
                f"{f'**{peak}**' if r.saturated else peak} | "
                f"{fmt_int(r.no_free_conn)} | {fmt_int(r.busy)} | {fmt_int(r.timeout)} | "
                f"{fmt_ms(r.create_p50)} / {fmt_ms(r.create_p95)} / {fmt_ms(r.create_max)} |"
            )
        if rest:
            out += ["", f"_…and {rest} more (host, provider) pairs._"]
        out.append("")

    if d.notes:
        out += ["### Also noted", ""]
        for note in d.notes:
            cited = f" ({md_escape(cite_ref(note.citations[0]))})" if note.citations else ""
            out.append(f"- {md_escape(note.text)}{cited}")
        out.append("")

    if d.missing_evidence:
        out += ["### Missing evidence", ""]
        for me in d.missing_evidence:
            line = f"- **{md_escape(me.artifact)}**"
            if me.why:
                line += f": {md_escape(me.why)}"
            out.append(line)
            if me.command:
                out += ["", *("  " + x for x in _fence([me.command], "sh")), ""]
        out.append("")

    not_used, caveats = split_warnings(d)
    for title, items in (("Not used", not_used), ("Used, with a caveat", caveats)):
        if not items:
            continue
        shown, rest = head(items, WARNINGS_SHOWN)
        out += [f"### {title} ({len(items)})", ""]
        out += [f"- {md_escape(w)}" for w in shown]
        if rest:
            out.append(f"- …and {rest} more (see `vvolguard diagnose --json`)")
        out.append("")

    from vvolguard import __version__

    out.append(f"_Generated by vvolguard {__version__} ({d.schema})._")
    return "\n".join(_squeeze(out)) + "\n"


def _squeeze(lines: list[str]) -> list[str]:
    """No runs of blank lines, whatever the combination of empty sections."""
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    return out
