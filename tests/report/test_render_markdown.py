"""The ticket summary: right sections, evidence in code blocks, and no way for evidence to become
HTML or markup once a ticket system renders it (checked with a CommonMark renderer)."""

from __future__ import annotations

import re
from dataclasses import replace

from markdown_it import MarkdownIt

from vvolguard.analysis.model import Diagnosis, FailedMigration, Verdict
from vvolguard.records import Citation
from vvolguard.report.markdown import md_escape, render_markdown


def to_html(md: str) -> str:
    # html=True: render as permissively as a ticket system might, so escaping must do the work.
    return MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough").render(md)


def test_sections_in_order(saturation: Diagnosis) -> None:
    md = render_markdown(saturation)
    heads = re.findall(r"^#{2,3} (.*)$", md, re.M)
    assert heads[0].startswith("vvolguard: VASA provider saturation (provider-saturation, confidence 92%")
    assert heads[1:] == [
        "Key evidence",
        "Next moves",
        "Failed migrations (3 of 9)",
        "VASA signals per provider",
        "Missing evidence",
        "Not used (7)",
        "Used, with a caveat (1)",
    ]


def test_key_evidence_is_a_code_block_of_file_line_and_text(saturation: Diagnosis) -> None:
    html = to_html(render_markdown(saturation))
    blocks = re.findall(r"<pre><code class=\"language-text\">(.*?)</code></pre>", html, re.S)
    assert blocks, html
    first = blocks[0]
    assert "vvold.log:48217  2026-03-10T14:03:31.988Z warning" in first
    assert "Container (&lt;unset&gt;)" in first  # the literal text, escaped by the renderer
    assert "…and 1 more cited line in the JSON/HTML report." in html


def test_next_moves_numbered_and_failed_migrations_table(saturation: Diagnosis) -> None:
    html = to_html(render_markdown(saturation))
    moves = re.search(r"<ol>(.*?)</ol>", html, re.S).group(1)  # type: ignore[union-attr]
    assert moves.count("<li>") == 5
    assert "escalate --out case.tgz &lt;evidence&gt;" in moves
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    failed = [r for r in rows if "task-40" in r]
    assert len(failed) == 3
    cells = re.findall(r"<td>(.*?)</td>", failed[0])
    assert cells == [
        "task-4012",
        "web-03",
        "esx-03 → esx-02",
        "2026-03-10 14:06:10Z",
        "A system error occurred.",
    ]


def test_missing_evidence_with_commands(insufficient: Diagnosis) -> None:
    md = render_markdown(insufficient)
    html = to_html(md)
    assert "Failed migrations" not in md
    assert "<strong>vCenter task export</strong>" in html
    assert '<code class="language-sh">Get-Task | Export-Csv tasks.csv' in html


def test_evidence_cannot_inject_html_links_or_break_out_of_code(saturation: Diagnosis) -> None:
    evil = "<script>alert(1)</script> ``` [click](http://evil.example) *bold* | pipe"
    finding = replace(
        saturation.findings[0],
        title="<img src=x onerror=alert(1)> [x](http://evil.example)",
        reason="**not bold** _not em_ ~~not struck~~",
        citations=[Citation("vvold.log", 5, evil)],
        next_moves=["# not a heading", "<b>not bold</b>"],
    )
    failed = FailedMigration("task-1", "vm|with|pipes", "esx-03", "esx-01", None, "<i>err</i>")
    d = replace(
        saturation,
        verdict=Verdict("provider-saturation", 0.9, "<h1>x</h1> summary"),
        findings=[finding],
        migrations=replace(saturation.migrations, failed=[failed]),
    )
    md = render_markdown(d)
    html = to_html(md)
    for tag in ("<script", "<img", "<b>", "<i>", "<h1>", "<a ", "<strong>not", "<em>not", "<s>", "<del>"):
        assert tag not in html, tag
    # the fence outgrew the triple backticks inside the evidence, so the line stayed in the block
    assert "````text" in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt; ``` [click](http://evil.example)" in html
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", html, re.S) if "task-1" in r)
    assert len(re.findall(r"<td>", row)) == 5
    assert "vm|with|pipes" in row


def test_md_escape_keeps_identifiers_readable() -> None:
    assert md_escape("PROVIDER_BUSY on esx-03") == "PROVIDER_BUSY on esx-03"
    assert md_escape("line\nbreak\tand  spaces") == "line break and spaces"
    assert md_escape("1. not a list") == "1\\. not a list"


def test_no_blank_line_runs_and_trailing_newline(any_diagnosis: Diagnosis) -> None:
    md = render_markdown(any_diagnosis)
    assert md.endswith("\n") and not md.endswith("\n\n")
    assert "\n\n\n" not in md
