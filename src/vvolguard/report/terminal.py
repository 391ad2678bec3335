"""The terminal report: what an admin reads first, mid-incident, in a 100-column window.

Order is the order of questions a person asks: what is it (verdict), why do you think so
(evidence), what do I do now (next moves), what would make you surer (missing evidence), and what
did you skip (warnings). Every piece of user data goes through :class:`rich.text.Text`, never
through markup, because evidence lines are full of ``[brackets]`` that rich would read as styles.

Lines a person copies (cited file paths and log lines, commands that collect missing evidence,
warnings naming a file) are printed whole with ``soft_wrap``: a terminal folds them for the eye
only, and a file or pipe gets them on one line. Prose (reasons, moves) wraps at the console width.
A console made with ``soft_wrap`` (``cli.console`` makes one when stdout is not a terminal) gets
the verdict panel sized to its content rather than stretched to the (unbounded) width.
"""

from __future__ import annotations

from rich import box
from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from vvolguard.analysis.model import Diagnosis, Finding, Severity
from vvolguard.report.view import (
    class_label,
    fmt_clock,
    fmt_int,
    fmt_ms,
    fmt_pct,
    fmt_time,
    head,
    key_facts,
    next_moves,
    provider_rows,
    short_ref,
    short_text,
    split_warnings,
    verdict_severity,
    verdict_tone,
    window_text,
)

SEVERITY_STYLE: dict[Severity, str] = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "bold yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "green",
}
#: Headline colours by tone (see ``view.verdict_tone``): "unknown" is insufficient evidence.
TONE_STYLE: dict[str, str] = {
    **{s.value: style for s, style in SEVERITY_STYLE.items()},
    "unknown": "bold yellow",
}
TONE_BORDER: dict[str, str] = {
    "critical": "red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "green",
    "unknown": "yellow",
}

#: How much of each list is shown without ``--verbose``: enough to convince, not to drown.
CITATIONS_SHOWN = 4
WARNINGS_SHOWN = 3
FAILED_SHOWN = 10


def render_terminal(d: Diagnosis, console: Console, verbose: bool = False) -> None:
    """Print the whole report; never raises on empty lists or ``None`` fields."""
    if console.soft_wrap:
        # Off a terminal (a file, a ticket, ``less``) a box would be as wide as the summary:
        # the same lines under a plain heading read better and paste cleanly.
        _section(console, "Verdict")
        for line in _verdict_lines(d):
            _whole(console, line, 0)
    else:
        console.print(_verdict_panel(d))
    _evidence(d, console, verbose)
    _providers(d, console)
    _failed_migrations(d, console, verbose)
    _notes(d, console)
    _next_moves(d, console)
    _missing(d, console)
    _warnings(d, console, verbose)
    if verbose:
        _inputs(d, console)


def _indent(renderable: Text, n: int) -> Padding:
    return Padding(renderable, (0, 0, 0, n), expand=False)


def _section(console: Console, title: str) -> None:
    console.print()
    console.print(Text(title, style="bold underline"))


def _whole(console: Console, line: Text, indent: int) -> None:
    """A line that must not be broken (a path, a cited line, a command): see the module doc."""
    console.print(Text(" " * indent) + line, soft_wrap=True)


def _verdict_lines(d: Diagnosis) -> list[Text]:
    sev = verdict_severity(d)
    tone = verdict_tone(d)
    headline = Text()
    headline.append(class_label(d.verdict.cls).upper(), style=TONE_STYLE[tone])
    headline.append(f"   confidence {fmt_pct(d.verdict.confidence)}", style="bold")
    headline.append(f"   severity {sev.value}", style=SEVERITY_STYLE[sev])
    lines: list[Text] = [headline, Text(d.verdict.summary or "")]
    for fact in key_facts(d):
        lines.append(Text(f"• {fact}"))
    facts = Text(style="dim")
    window = window_text(d)
    if window:
        facts.append(f"window {window}")
    if d.hosts:
        facts.append(("   " if facts else "") + "hosts " + ", ".join(d.hosts))
    m = d.migrations
    if m.total:
        facts.append(
            ("   " if facts else "") + f"migrations {m.total} total, {len(m.failed)} failed, "
            f"{m.succeeded} succeeded"
        )
    if facts:
        lines.append(facts)
    return lines


def _verdict_panel(d: Diagnosis) -> Panel:
    sev = verdict_severity(d)
    tone = verdict_tone(d)
    return Panel(
        Group(*_verdict_lines(d)),
        title=Text("vvolguard verdict", style="bold"),
        title_align="left",
        border_style=TONE_BORDER[tone],
        box=box.HEAVY if sev.rank >= Severity.HIGH.rank else box.ROUNDED,
    )


def _evidence(d: Diagnosis, console: Console, verbose: bool) -> None:
    if not d.findings:
        return
    _section(console, "Evidence")
    for f in d.findings:
        _finding(f, console, verbose)


def _finding(f: Finding, console: Console, verbose: bool) -> None:
    sev = Severity(f.severity)
    line = Text("● ", style=SEVERITY_STYLE[sev])
    line.append(f"[{sev.value}] ", style=SEVERITY_STYLE[sev])
    line.append(f.title, style="bold")
    line.append(f"  ({fmt_pct(f.confidence)})", style="dim")
    console.print(line)
    if f.reason:
        console.print(_indent(Text(f.reason), 2))
    shown, rest = (f.citations, 0) if verbose else head(f.citations, CITATIONS_SHOWN)
    for c in shown:
        _whole(console, Text(short_ref(c), style="cyan"), 4)
        _whole(console, Text(short_text(c)), 4)
    if rest:
        console.print(_indent(Text(f"… {rest} more cited lines (--verbose)", style="dim"), 4))


def _providers(d: Diagnosis, console: Console) -> None:
    rows = provider_rows(d)
    if not rows:
        return
    _section(console, "VASA signals per provider (per host)")
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
        caption="ceil: #outstanding ceiling · peak: most seen · p50/p95/max: swap-vVol create",
        caption_justify="left",
    )
    # Names never wrap: a provider or host split over three lines cannot be read at a glance.
    table.add_column("provider", no_wrap=True, overflow="ellipsis", max_width=18)
    table.add_column("host", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("ceil", justify="right", no_wrap=True)
    table.add_column("peak", justify="right", no_wrap=True)
    table.add_column("waits", justify="right", no_wrap=True)
    table.add_column("busy", justify="right", no_wrap=True)
    table.add_column("t/o", justify="right", no_wrap=True)
    table.add_column("p50", justify="right", no_wrap=True)
    table.add_column("p95", justify="right", no_wrap=True)
    table.add_column("max", justify="right", no_wrap=True)
    for r in rows:
        out = Text(fmt_int(r.max_outstanding), style="bold red" if r.saturated else "")
        table.add_row(
            Text(r.vp),
            Text(r.host or "—"),
            fmt_int(r.ceiling),
            out,
            _hot(r.no_free_conn),
            _hot(r.busy),
            _hot(r.timeout),
            fmt_ms(r.create_p50),
            _slow(r.create_p95),
            _slow(r.create_max),
        )
    console.print(table)


def _hot(n: int | None) -> Text:
    return Text(fmt_int(n), style="red" if n else "")


def _slow(ms: float | None) -> Text:
    return Text(fmt_ms(ms), style="red" if ms and ms >= 10_000 else "")


def _failed_migrations(d: Diagnosis, console: Console, verbose: bool) -> None:
    m = d.migrations
    if not m.failed and not m.storms:
        return
    if m.storms:
        _section(console, "Migration storms")
        for s in m.storms:
            text = Text(
                f"{s.source_host}: {s.migrations} migrations, peak {s.peak_concurrency} at once, "
                f"{s.failed} failed, {fmt_time(s.start)} → {fmt_clock(s.end)}"
            )
            console.print(_indent(text, 2))
    if not m.failed:
        return
    days = {f.time.date() for f in m.failed if f.time}
    day = f", {next(iter(days)).isoformat()} UTC" if len(days) == 1 else ""
    _section(console, f"Failed migrations ({len(m.failed)} of {m.total or '?'}{day})")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("task", no_wrap=True)
    table.add_column("VM", no_wrap=True, overflow="ellipsis", max_width=20)
    table.add_column("from", no_wrap=True, overflow="ellipsis", max_width=22)
    table.add_column("to", no_wrap=True, overflow="ellipsis", max_width=22)
    table.add_column("time", no_wrap=True)
    table.add_column("error", overflow="fold")
    shown, rest = (m.failed, 0) if verbose else head(m.failed, FAILED_SHOWN)
    for f in shown:
        table.add_row(
            Text(f.task_id or "—"),
            Text(f.vm or "—"),
            Text(f.source or "?"),
            Text(f.destination or "?"),
            fmt_clock(f.time) if day else fmt_time(f.time),
            Text(f.error or "—"),
        )
    console.print(table)
    if rest:
        console.print(Text(f"  … {rest} more (--verbose or --json)", style="dim"))


def _notes(d: Diagnosis, console: Console) -> None:
    """Facts that are not a failure class but change how the verdict reads: a vvold restart, a
    source host inferred from maintenance mode, times lined up across exports."""
    if not d.notes:
        return
    _section(console, "Also noted")
    for note in d.notes:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row(" •", Text(note.text))
        console.print(grid)
        for c in note.citations[:1]:
            _whole(console, Text(short_ref(c), style="dim"), 3)


def _next_moves(d: Diagnosis, console: Console) -> None:
    moves = next_moves(d)
    if not moves:
        return
    _section(console, "Next moves")
    grid = Table.grid(padding=(0, 1))  # a grid, so a wrapped move stays under its own text
    grid.add_column(justify="right", no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    for i, move in enumerate(moves, 1):
        grid.add_row(f"{i}.", Text(move))
    console.print(grid)


def _missing(d: Diagnosis, console: Console) -> None:
    if not d.missing_evidence:
        return
    _section(console, "Missing evidence (collect to be surer)")
    for m in d.missing_evidence:
        grid = Table.grid(padding=(0, 1))  # a wrapped reason stays under its own text
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        line = Text(m.artifact, style="bold")
        if m.why:
            line.append(f" — {m.why}", style="default")
        grid.add_row(" •", line)
        console.print(grid)
        if m.command:  # whole, without a prompt sign: it is pasted as it is
            _whole(console, Text(m.command, style="green"), 3)


def _warnings(d: Diagnosis, console: Console, verbose: bool) -> None:
    """What could not be used, then what was used with a caveat: never one list, so "not used"
    never labels a file that was used."""
    not_used, caveats = split_warnings(d)
    for title, items in (("Not used", not_used), ("Used, with a caveat", caveats)):
        if not items:
            continue
        _section(console, f"{title} ({len(items)})")
        shown, rest = (items, 0) if verbose else head(items, WARNINGS_SHOWN)
        for w in shown:
            _whole(console, Text(str(w), style="yellow"), 2)
        if rest:
            console.print(Text(f"  … {rest} more; see --json for all", style="dim"))


def _inputs(d: Diagnosis, console: Console) -> None:
    if not d.inputs:
        return
    _section(console, "Inputs")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("file", overflow="fold")
    table.add_column("kind")
    table.add_column("host")
    table.add_column("records", justify="right")
    for i in d.inputs:
        table.add_row(Text(i.file), i.kind, Text(i.host or "—"), fmt_int(i.records))
    console.print(table)
