"""``vvolguard diagnose``: evidence in, a named failure class out.

Exit codes are part of the interface (automation relies on them): 0 a diagnosis was produced,
1 ``--fail-on`` matched a finding, 2 nothing given was usable, 3 an internal error.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from vvolguard.analysis.model import Diagnosis, Severity
from vvolguard.cli import live_options
from vvolguard.cli.console import error, make_console, print_line
from vvolguard.cli.intake_options import MAX_DEPTH, MAX_EXPANDED, parse_limits

if TYPE_CHECKING:
    from vvolguard.analysis.thresholds import Thresholds

EXIT_OK = 0
EXIT_FAIL_ON = 1
EXIT_NOTHING_USABLE = 2

#: Imported before the command runs, while start-up keeps the collector off (cli.main.end_startup).
RUN_IMPORTS = ("vvolguard.pipeline",)


def register(app: typer.Typer) -> None:
    app.command(
        "diagnose",
        help=(
            "Read support bundles, vvold/hostd/vmkernel logs, esxcli outputs, vCenter task and event "
            "exports, Get-VasaProvider exports and certificates; name the failure class with its "
            "evidence and the runbook's next moves. Exit codes: 0 diagnosed, 1 --fail-on matched, "
            "2 nothing usable (with --json the document still says why), 3 internal error "
            "(please report it)."
        ),
    )(diagnose_command)


def diagnose_command(
    paths: list[Path] = typer.Argument(
        None,
        metavar="PATH",
        help="Files, folders, .tgz support bundles; any mix (or --vcenter to collect them live; "
        "optional with --since).",
        show_default=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the vvolguard.diagnosis/v1 JSON instead."),
    html: Path | None = typer.Option(
        None, "--html", metavar="FILE", help="Also write a self-contained HTML report here."
    ),
    markdown: Path | None = typer.Option(
        None, "--markdown", metavar="FILE", help="Also write a Markdown ticket summary here."
    ),
    fail_on: Severity | None = typer.Option(
        None,
        "--fail-on",
        metavar="SEVERITY",
        help="Exit 1 when a finding has at least this severity: info, low, medium, high or critical "
        "(for automation); stderr names the findings that matched.",
    ),
    now: str | None = typer.Option(
        None,
        "--now",
        metavar="TIME",
        help="Judge certificate horizons as of this ISO time instead of the clock.",
    ),
    threshold: list[str] = typer.Option(
        [],
        "--threshold",
        metavar="NAME=VALUE",
        help="Override a named threshold (repeatable; see the README).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every citation and warning."),
    tz: str | None = typer.Option(
        None,
        "--tz",
        metavar="ZONE",
        help="Zone of exports whose times carry no offset (vSphere Client CSV): Europe/Berlin, +02:00.",
    ),
    max_expanded: str = MAX_EXPANDED,
    max_depth: int = MAX_DEPTH,
    vcenter: str | None = typer.Option(
        None,
        "--vcenter",
        metavar="VCENTER",
        help="Collect the evidence live from this vCenter (and each --host) first, then diagnose it.",
    ),
    host: list[str] = typer.Option([], "--host", metavar="HOST", help="With --vcenter: a host (repeatable)."),
    since: str | None = typer.Option(
        None,
        "--since",
        metavar="AGE|TIME",
        help="The window from then until now (2h, 90m, 1d, or an ISO time): with --vcenter, what to "
        "collect (default 2h); and what `vvolguard watch` saw in it, read from the local store, with "
        "what it could not see.",
    ),
    window: str | None = typer.Option(
        None, "--window", metavar="START..END", help="With --vcenter: collect this window (ISO times)."
    ),
    case_dir: Path | None = typer.Option(
        None,
        "--case",
        metavar="CASE_DIR",
        help="With --vcenter: keep the collected case here (default: a temporary folder, removed after).",
    ),
    user: str = live_options.USER,
    insecure: bool = live_options.INSECURE,
    ca_file: Path | None = live_options.CA_FILE,
    ssh_config: Path | None = live_options.SSH_CONFIG,
    ssh_user: str | None = live_options.SSH_USER,
    ssh_known_hosts: Path | None = live_options.KNOWN_HOSTS,
    no_ssh: bool = live_options.NO_SSH,
    provider_address: list[str] = live_options.PROVIDER_ADDRESS,
    store_path: Path | None = typer.Option(
        None, "--store", metavar="FILE", help="Local store watch wrote to (for --since)."
    ),
) -> None:
    from vvolguard.analysis.thresholds import Thresholds
    from vvolguard.pipeline import diagnose, usable

    err = make_console(stderr=True)
    if vcenter is not None:
        live = live_options.LiveTarget(vcenter, host, since, window, user, insecure, ca_file)
        ssh = (ssh_config, ssh_user, ssh_known_hosts, no_ssh)
        addresses = live_options.provider_addresses_or_exit(provider_address, err)
        paths = [*(paths or []), live_options.collect_for_diagnose(live, ssh, case_dir, err, addresses)]
    elif not paths and since is None:
        error(
            err,
            "give the evidence (files, folders, bundles), --vcenter VCENTER to collect it live, "
            "or --since AGE to ask what vvolguard watch saw",
        )
        raise typer.Exit(EXIT_NOTHING_USABLE)
    when = _parse_now(now, err)
    zone = _parse_tz(tz, err)
    thresholds = _parse_thresholds(Thresholds, threshold, err)
    paths = list(paths or [])
    _refuse_overwriting_inputs(paths, [html, markdown], err)
    limits = parse_limits(max_expanded, max_depth, err)
    window_start = _parse_since(since, when, err) if since is not None else None
    if not paths and window_start is None:
        error(err, "give evidence PATHs, or --since AGE to ask what vvolguard watch saw")
        raise typer.Exit(EXIT_NOTHING_USABLE)

    interactive = err.is_terminal and not as_json
    if interactive:
        with err.status("reading evidence…") as status:
            result = diagnose(
                paths,
                now=when,
                thresholds=thresholds,
                on_file=lambda ef: status.update(_fit(f"reading {ef.display}", err.width - 4)),
                tz=zone,
                limits=limits,
            )
    else:
        result = diagnose(paths, now=when, thresholds=thresholds, tz=zone, limits=limits)
    # with --vcenter, --since is the collection window; the store is read when one was named
    if window_start is not None and (vcenter is None or store_path is not None):
        from vvolguard.pipeline import add_watch_history

        add_watch_history(result, window_start, when, store_path)

    if not usable(result):
        error(err, "nothing given was usable evidence.")
        for note in result.notes:  # --since: what the store could and could not say
            print_line(err, note.text, indent=2)
        for warning in result.warnings[:20]:
            print_line(err, str(warning), indent=2)
        if len(result.warnings) > 20:
            print_line(err, f"… and {len(result.warnings) - 20} more", indent=2)
        if as_json:  # automation reads the reasons from the document, not from an empty file
            from vvolguard.report.jsonout import to_json

            sys.stdout.write(to_json(result) + "\n")
        raise typer.Exit(EXIT_NOTHING_USABLE)

    _write_reports(result, html, markdown, err)
    if as_json:
        from vvolguard.report.jsonout import to_json

        sys.stdout.write(to_json(result) + "\n")
    else:
        from vvolguard.report.terminal import render_terminal

        render_terminal(result, make_console(), verbose=verbose)

    if fail_on is not None:
        matched = [f for f in result.findings if Severity(f.severity).rank >= fail_on.rank]
        if matched:
            # stderr, so --json on stdout stays one clean document
            error(err, f"--fail-on {fail_on.value}: {len(matched)} finding(s) at or above it:")
            for f in matched:
                print_line(err, f"{Severity(f.severity).value}: {f.id}: {f.title}", indent=2)
            raise typer.Exit(EXIT_FAIL_ON)


def _parse_since(value: str, now: datetime | None, err: Console) -> datetime:
    """``--since``: an age (``2h``, ``90m``, ``30s``, ``1d``) back from now, or an ISO time."""
    import re
    from datetime import timedelta

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value.lower())
    if m:
        seconds = float(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    return _iso_time(value, err, f"--since {value!r} is neither an age (2h, 90m, 1d) nor an ISO time")


def _fit(text: str, width: int) -> str:
    """``text`` on one line of ``width``: the middle of a long path gives way to ``…`` (the spinner
    line is transient; a wrapped one would leave its first lines behind on the terminal)."""
    if len(text) <= width or width < 20:
        return text
    keep = width - 1
    return text[: keep // 3] + "…" + text[-(keep - keep // 3) :]


def _write_reports(result: Diagnosis, html: Path | None, markdown: Path | None, err: Console) -> None:
    if html is not None:
        from vvolguard.report.html import render_html

        _write(html, render_html(result), err)
    if markdown is not None:
        from vvolguard.report.markdown import render_markdown

        _write(markdown, render_markdown(result), err)


def _write(path: Path, text: str, err: Console) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        error(err, f"cannot write {path}: {exc.strerror or exc}")
        raise typer.Exit(EXIT_NOTHING_USABLE) from None
    print_line(err, f"wrote {path}")


def _parse_now(value: str | None, err: Console) -> datetime | None:
    if value is None:
        return None
    return _iso_time(value, err, f"--now {value!r} is not an ISO date/time (e.g. 2026-03-14T10:00:00Z)")


def _iso_time(value: str, err: Console, problem: str) -> datetime:
    """An ISO date/time (``Z`` allowed; no offset: UTC), or exit 2 saying ``problem``."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        error(err, problem)
        raise typer.Exit(EXIT_NOTHING_USABLE) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_thresholds(factory: type[Thresholds], pairs: list[str], err: Console) -> Thresholds:
    overrides: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            if not sep:
                raise ValueError
            overrides[name.strip()] = float(value)
        except ValueError:
            error(err, f"--threshold {pair!r} must be NAME=NUMBER")
            raise typer.Exit(EXIT_NOTHING_USABLE) from None
    try:
        return factory.from_overrides(overrides)
    except (KeyError, ValueError) as exc:
        error(err, str(exc))
        raise typer.Exit(EXIT_NOTHING_USABLE) from None


def _refuse_overwriting_inputs(inputs: list[Path], outputs: list[Path | None], err: Console) -> None:
    resolved = {p.resolve() for p in inputs if p.exists()}
    for out in outputs:
        if out is not None and out.exists() and out.resolve() in resolved:
            error(err, f"refusing to overwrite {out}: it is one of the inputs")
            raise typer.Exit(EXIT_NOTHING_USABLE)


def _parse_tz(value: str | None, err: Console) -> tzinfo | None:
    """``--tz`` to a tzinfo; a zone Python does not know is a usage error (exit 2), not a crash."""
    if value is None:
        return None
    from vvolguard.evidence.dates import parse_tz

    try:
        return parse_tz(value)
    except ValueError as exc:
        error(err, f"--tz {exc}")
        raise typer.Exit(EXIT_NOTHING_USABLE) from None
