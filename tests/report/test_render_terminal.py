"""The terminal report: order of sections, content a person needs, robustness to odd data."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest
from rich.console import Console

from vvolguard.analysis.model import (
    Diagnosis,
    FailedMigration,
    Finding,
    Migrations,
    ProviderSummary,
    Severity,
    Verdict,
)
from vvolguard.records import Citation, ReadWarning
from vvolguard.report.terminal import render_terminal
from vvolguard.report.view import short_ref, short_text

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def render(d: Diagnosis, *, verbose: bool = False, colour: bool = False, width: int = 100) -> str:
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        force_terminal=colour,
        color_system="standard" if colour else None,
        legacy_windows=False,
    )
    render_terminal(d, console, verbose=verbose)
    return buf.getvalue()


def test_sections_come_in_the_order_a_person_reads_them(saturation: Diagnosis) -> None:
    out = render(saturation)
    order = [
        "VASA PROVIDER SATURATION",
        "Evidence",
        "VASA signals per provider",
        "Failed migrations (3 of 9, 2026-03-10 UTC)",
        "Next moves",
        "Missing evidence",
        "Not used (7)",
        "Used, with a caveat (1)",
    ]
    positions = [out.index(s) for s in order]
    assert positions == sorted(positions), positions


def test_verdict_panel_has_class_confidence_and_summary(saturation: Diagnosis) -> None:
    out = render(saturation)
    panel = out[: out.index("Evidence")]
    assert "confidence 92%" in panel
    assert "severity high" in panel
    assert "3 failed with 'A system error occurred.'" in " ".join(panel.split()).replace("┃ ", "")


def test_evidence_cites_file_line_and_text_but_only_a_few_per_finding(saturation: Diagnosis) -> None:
    out = render(saturation)
    flat = " ".join(out.split())
    assert "vvold.log:48217" in out
    assert "No free connections to VP vasa-a01" in flat
    # 6 citations on the saturation finding: 4 shown, the rest summarised
    assert "vvold.log:1022" not in out
    assert "… 2 more cited lines (--verbose)" in out
    verbose = render(saturation, verbose=True)
    assert "vvold.log:1022" in verbose
    assert "more cited lines" not in verbose


def test_provider_table_puts_the_saturated_pair_first_with_its_numbers(saturation: Diagnosis) -> None:
    out = render(saturation)
    table = out[out.index("VASA signals per provider") : out.index("Migration storms")]
    lines = [line for line in table.splitlines() if line.startswith("vasa-")]
    assert len(lines) == 6
    vp, host, ceiling, max_out, waits, busy, timeouts, *_ = lines[0].split()
    assert (vp, host, ceiling, max_out) == ("vasa-a01", "esx-03", "5", "5")
    assert int(waits) > 0 and int(busy) > 0 and int(timeouts) > 0
    assert re.search(r"13\.5 s\s+40\.0 s\s+41\.2 s$", lines[0].rstrip())


def test_failed_migrations_table_names_task_vm_route_time_and_error(saturation: Diagnosis) -> None:
    out = render(saturation)
    lines = [line for line in out.splitlines() if line.startswith("task-40")]
    assert len(lines) == 3
    first = lines[0]
    for expected in ("task-4012", "web-03", "esx-03  esx-02", "14:06:10", "A system error"):
        assert expected in first


def test_next_moves_are_numbered_primary_first_without_repeats(saturation: Diagnosis) -> None:
    out = render(saturation)
    block = out[out.index("Next moves") : out.index("Missing evidence")]
    numbered = re.findall(r"^\s*(\d+)\. (.*)$", block, re.M)
    assert [n for n, _ in numbered] == ["1", "2", "3", "4", "5"]
    assert numbered[0][1].startswith("Pause the maintenance-mode evacuation")
    assert numbered[-1][1].startswith("Plan renewal of the vasa-b01 certificate")


def test_missing_evidence_shows_artifact_and_command(insufficient: Diagnosis) -> None:
    out = render(insufficient)
    assert "esxcli storage vvol vasaprovider list (source host)" in out
    lines = [line.strip() for line in out.splitlines()]
    # on a line of their own, without a prompt sign: pasted as they are printed
    assert "esxcli storage vvol vasaprovider list > vp.txt" in lines
    assert "Get-Task | Export-Csv tasks.csv" in lines


def test_warnings_show_count_first_few_and_point_to_json(saturation: Diagnosis) -> None:
    out = render(saturation)
    block = out[out.index("Not used (7)") : out.index("Used, with a caveat (1)")]
    assert len(re.findall(r"vvold\.log:\d+: line does not match", block)) == 3
    assert "… 4 more; see --json for all" in block
    verbose = render(saturation, verbose=True)
    assert "notes.txt: unrecognised file; not used" in verbose
    assert "see --json for all" not in verbose


def whole_lines(d: Diagnosis) -> set[str]:
    """The lines printed whole whatever the width: cited paths and lines, commands, warnings."""
    lines = {m.command for m in d.missing_evidence if m.command}
    lines |= {str(w) for w in d.warnings}
    for f in d.findings:
        lines |= {short_ref(c) for c in f.citations} | {short_text(c) for c in f.citations}
    return {line.strip() for line in lines}


def prose_width(out: str, d: Diagnosis) -> int:
    whole = whole_lines(d)
    return max(len(line.rstrip()) for line in out.splitlines() if line.strip() not in whole)


def test_fits_in_100_columns(any_diagnosis: Diagnosis) -> None:
    out = render(any_diagnosis, verbose=True)
    assert prose_width(out, any_diagnosis) <= 100


@pytest.mark.parametrize("width", [40, 80])
def test_paths_cited_lines_and_commands_are_never_broken(any_diagnosis: Diagnosis, width: int) -> None:
    """A narrow terminal folds these itself; the text rich writes keeps each on one line."""
    lines = {line.strip() for line in render(any_diagnosis, verbose=True, width=width).splitlines()}
    assert whole_lines(any_diagnosis) <= lines


def test_colour_follows_severity(saturation: Diagnosis, healthy: Diagnosis) -> None:
    red = render(saturation, colour=True).splitlines()[1]
    green = render(healthy, colour=True).splitlines()[1]
    assert "\x1b[1;31mVASA PROVIDER SATURATION" in red
    assert "\x1b[32mHEALTHY" in green


def test_evidence_brackets_are_printed_not_read_as_rich_markup(saturation: Diagnosis) -> None:
    nasty = "[/] [bold red]not bold[/bold red] [link=http://x]click[/link] [#91822]"
    finding = replace(saturation.findings[0], citations=[Citation("vvold.log", 7, nasty)])
    d = replace(saturation, findings=[finding], warnings=[ReadWarning("x[/]", 1, "[red]w[/]")])
    out = render(d, colour=True)
    plain = ANSI.sub("", out)
    assert nasty in plain
    assert "x[/]:1: [red]w[/]" in plain


def test_empty_and_none_fields_do_not_crash() -> None:
    bare = Diagnosis(verdict=Verdict(cls="healthy", confidence=0.5, summary=""))
    assert "HEALTHY" in render(bare)
    odd = Diagnosis(
        verdict=Verdict(cls="something-new", confidence=None, summary=None),  # type: ignore[arg-type]
        findings=[Finding("provider-saturation", "t", Severity.CRITICAL, 0.5, "")],
        providers=[ProviderSummary("vp", None, {})],
        signals={"per_provider": [{"vp": None}, {}, "junk"], "timeline": None},
        migrations=Migrations(
            total=0,
            failed=[FailedMigration(None, None, None, None, None, None)],
            peak_concurrency={},
        ),
    )
    out = render(odd, verbose=True)
    assert "SOMETHING NEW" in out
    assert re.search(r"^—\s+—\s+\?\s+\?\s+—\s+—", out, re.MULTILINE)


@pytest.mark.parametrize("width", [60, 100, 160])
def test_any_width_renders(any_diagnosis: Diagnosis, width: int) -> None:
    out = render(any_diagnosis, width=width)
    assert prose_width(out, any_diagnosis) <= width


def test_insufficient_evidence_is_never_green(insufficient: Diagnosis) -> None:
    calm = replace(insufficient, findings=[replace(insufficient.findings[0], severity=Severity.INFO)])
    headline = render(calm, colour=True).splitlines()[1]
    assert "\x1b[1;33mINSUFFICIENT EVIDENCE" in headline
    assert headline.startswith("\x1b[33m│")  # the panel border is amber too


def test_wrapped_next_moves_stay_under_their_text(saturation: Diagnosis) -> None:
    long_move = "Drain the host slowly " + "and watch vvold.log " * 8
    finding = replace(saturation.findings[0], next_moves=[long_move.strip()])
    out = render(replace(saturation, findings=[finding]), width=60)
    block = out[out.index("Next moves") :].splitlines()[1:4]
    assert block[0].startswith("1. Drain the host slowly")
    assert block[1].startswith("   ") and block[1].strip()
