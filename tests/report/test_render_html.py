"""The HTML report without a browser: self-contained, escaped, plots present and aligned, small."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser

import pytest

from vvolguard.analysis.model import Diagnosis, FailedMigration
from vvolguard.records import Citation
from vvolguard.report.html import render_html
from vvolguard.report.plots import timeline_plots

PLOT_IDS = ["plot-inflight", "plot-outstanding", "plot-waits", "plot-latency"]


class Inventory(HTMLParser):
    """Every tag and attribute, to check what the page could load or run."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.style_text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style_text.append(data)


def inventory(html: str) -> Inventory:
    parser = Inventory()
    parser.feed(html)
    return parser


def test_self_contained_nothing_to_load_or_run(saturation: Diagnosis) -> None:
    html = render_html(saturation)
    inv = inventory(html)
    names = {t for t, _ in inv.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base"}
    for tag, attrs in inv.tags:
        for key, value in attrs.items():
            assert not key.startswith("on"), (tag, key)
            if key in ("src", "href", "xlink:href", "action", "data"):
                assert (value or "").startswith("#"), (tag, key, value)
    css = "\n".join(inv.style_text) + " ".join(a.get("style") or "" for _, a in inv.tags)
    assert "@import" not in css
    assert not re.search(r"url\((?!#)", css), "CSS must not reference anything outside the page"
    csp = [a for t, a in inv.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")


def test_verdict_findings_moves_missing_and_plots_are_there(saturation: Diagnosis) -> None:
    html = render_html(saturation)
    for anchor in ('id="verdict"', 'id="next-moves"', 'id="timeline"', 'id="findings"', 'id="migrations"'):
        assert anchor in html
    assert 'id="missing"' in html and 'id="warnings"' in html
    for pid in PLOT_IDS:
        figure = re.search(rf'<figure class="plot" id="{pid}">(.*?)</figure>', html, re.S)
        assert figure, pid
        assert "<svg" in figure.group(1) and "</svg>" in figure.group(1)
    assert html.index('id="next-moves"') < html.index('id="timeline"') < html.index('id="findings"')
    assert "vvold.log:48217" in html
    assert "task-4014" in html and "web-05" in html


def test_evidence_text_is_escaped_everywhere(saturation: Diagnosis) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    finding = replace(saturation.findings[0], citations=[Citation("a<b>.log", 3, evil)], title=evil)
    failed = [replace(f, vm=f"{evil}-{i}", error=evil) for i, f in enumerate(saturation.migrations.failed)]
    d = replace(
        saturation,
        findings=[finding],
        migrations=replace(saturation.migrations, failed=failed),
    )
    # a provider name from the evidence titles its panel inside the SVG, escaped by matplotlib
    timeline = [{**c, "vp": evil if c["vp"] == "vasa-a01" else c["vp"]} for c in d.signals["timeline"]]
    d = replace(d, signals={**d.signals, "timeline": timeline})
    html = render_html(d)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    outstanding = next(p for p in timeline_plots(d) if p.id == "plot-outstanding").svg or ""
    assert "&lt;script&gt;" in outstanding and "<script" not in outstanding


def test_dollar_signs_in_names_do_not_trip_mathtext(saturation: Diagnosis) -> None:
    weird = "$vp$_{weird}^"
    timeline = [
        {**c, "vp": weird if c["vp"] == "vasa-a01" else c["vp"]} for c in saturation.signals["timeline"]
    ]
    d = replace(saturation, signals={**saturation.signals, "timeline": timeline})
    svg = next(p for p in timeline_plots(d) if p.id == "plot-outstanding").svg or ""
    assert weird in svg


def test_plots_show_the_incident(saturation: Diagnosis) -> None:
    plots = {p.id: p for p in timeline_plots(saturation)}
    inflight = plots["plot-inflight"].svg or ""
    for number in ("1", "2", "3"):
        assert f">{number}<" in inflight  # each failed migration carries its table row's number
    outstanding = plots["plot-outstanding"].svg or ""
    assert ">vasa-a01<" in outstanding and ">vasa-b01<" in outstanding
    assert outstanding.count(">ceiling 5<") == 2
    assert ">reached the ceiling<" in outstanding
    waits = plots["plot-waits"].svg or ""
    assert ">waits for a free connection<" in waits and ">PROVIDER_BUSY<" in waits
    latency = plots["plot-latency"].svg or ""
    assert ">40<" in latency  # y axis reaches 40 s
    for svg in plots.values():
        assert ">failed migration<" in (svg.svg or "")
        assert ">migration storm<" in (svg.svg or "")


AXES_BOX = re.compile(
    r'<g id="plot-[a-z]+-axes_1">\s*<g id="plot-[a-z]+-patch_2">\s*<path d="M ([\d.]+) [\d.]+\s+L ([\d.]+) '
)
STORM_SPAN = re.compile(r'<g id="plot-[a-z0-9-]+-storm-0">\s*<path d="M ([\d.]+) [\d.]+\s+L ([\d.]+) ')
FAILURE_LINE = re.compile(r'<g id="(plot-[a-z0-9-]+)-failure-(\d+)">\s*<path d="M ([\d.]+) ')


def test_all_plots_share_one_time_axis(saturation: Diagnosis) -> None:
    """Same axes box and the storm at the same x on every plot, so stacked plots line up."""
    boxes, storms, widths = set(), set(), set()
    for p in timeline_plots(saturation):
        svg = p.svg or ""
        boxes.add(AXES_BOX.search(svg).groups())  # type: ignore[union-attr]
        storms.add(STORM_SPAN.search(svg).groups())  # type: ignore[union-attr]
        widths.add(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))  # type: ignore[union-attr]
    assert len(boxes) == 1 and len(storms) == 1 and len(widths) == 1, (boxes, storms, widths)
    (x0, x1), (s0, s1) = boxes.pop(), storms.pop()
    assert float(x0) < float(s0) < float(s1) < float(x1)


def test_each_failed_migration_is_marked_at_the_same_x_on_every_plot(saturation: Diagnosis) -> None:
    marks: dict[str, dict[str, str]] = {}
    for p in timeline_plots(saturation):
        for panel, index, x in FAILURE_LINE.findall(p.svg or ""):
            marks.setdefault(index, {})[panel] = x
    assert sorted(marks) == ["0", "1", "2"]
    for per_panel in marks.values():
        assert sorted(per_panel) == [
            "plot-inflight",
            "plot-latency",
            "plot-outstanding-0",
            "plot-outstanding-1",
            "plot-waits",
        ]
        assert len(set(per_panel.values())) == 1
    xs = [float(next(iter(m.values()))) for _, m in sorted(marks.items())]
    assert xs == sorted(xs) and len(set(xs)) == 3


def test_same_diagnosis_same_html(saturation: Diagnosis, saturation_factory) -> None:  # type: ignore[no-untyped-def]
    assert render_html(saturation) == render_html(saturation_factory())


def test_ids_are_unique_in_the_page_and_references_resolve(saturation: Diagnosis) -> None:
    html = render_html(saturation)
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) > 100 and len(ids) == len(set(ids))
    refs = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', html))
    assert refs and refs <= set(ids)


def test_insufficient_evidence_leads_with_what_to_collect(insufficient: Diagnosis) -> None:
    html = render_html(insufficient)
    assert "<svg" not in html
    assert 'id="no-timeline"' in html
    assert html.index('id="missing"') < html.index('id="timeline"')
    assert "esxcli storage vvol vasaprovider list &gt; vp.txt" in html


def test_healthy_has_plots_and_no_failure_marks(healthy: Diagnosis) -> None:
    plots = timeline_plots(healthy)
    assert all(p.svg for p in plots)
    assert not any(">failed migration<" in (p.svg or "") for p in plots)
    assert ">no waits, PROVIDER_BUSY or timeouts logged<" in next(
        p.svg for p in plots if p.id == "plot-waits"
    )


def test_missing_times_and_odd_values_do_not_crash(saturation: Diagnosis) -> None:
    signals = dict(saturation.signals)
    signals["timeline"] = [
        *signals["timeline"][:50],
        {"t": None, "vp": "x"},
        {"t": "not a time"},
        {"t": "2026-03-10T14:05:00Z", "vp": None, "host": None, "outstanding_max": "five"},
    ]
    signals["migrations_in_flight"] = [{"t": "2026-03-10T14:03:00Z", "source_host": "esx-03", "in_flight": 3}]
    failed = [FailedMigration(None, None, None, None, None, None)]
    d = replace(saturation, signals=signals, migrations=replace(saturation.migrations, failed=failed))
    html = render_html(d)
    assert html.count("<svg") == 4


@pytest.mark.parametrize(("duration", "bucket"), [(6 * 3600, 10), (24 * 3600, 30)])
def test_long_incident_stays_small(duration: int, bucket: int, saturation_factory) -> None:  # type: ignore[no-untyped-def]
    d = saturation_factory(duration=duration, bucket=bucket)
    assert len(d.signals["timeline"]) >= 12_000  # 6 (host, provider) pairs x 2000+ buckets
    html = render_html(d)
    assert len(html.encode()) < 300_000
    assert html.count("<svg") == 4


def test_only_healthy_looks_green(healthy: Diagnosis, insufficient: Diagnosis) -> None:
    """An 'info' finding that says we cannot tell must not read as all-clear."""
    from vvolguard.analysis.model import Severity

    assert 'class="verdict sev-info"' in render_html(healthy)
    calm = replace(insufficient, findings=[replace(insufficient.findings[0], severity=Severity.INFO)])
    html = render_html(calm)
    assert 'class="verdict sev-unknown"' in html
    assert '<span class="chip sev">info</span>' in html  # the severity itself is still reported
    elsewhere = replace(
        healthy,
        verdict=replace(healthy.verdict, cls="not-control-plane"),
        findings=[replace(healthy.findings[0], id="not-control-plane")],
    )
    assert 'class="verdict sev-low"' in render_html(elsewhere)


def test_hundreds_of_failures_stay_small(saturation: Diagnosis) -> None:
    template = saturation.migrations.failed[0]
    start = saturation.incident_window[0]  # type: ignore[index]
    failed = [
        replace(template, task_id=f"task-{i}", vm=f"vm-{i:03d}", time=start + timedelta(seconds=3 * i))
        for i in range(400)
    ]
    d = replace(saturation, migrations=replace(saturation.migrations, failed=failed, total=800))
    html = render_html(d)
    # grows with the failures listed (each row explains itself in ~1 KB), not with the plots
    assert len(html.encode()) < 500_000
    assert sum(len(p.svg or "") for p in timeline_plots(d)) < 200_000
    assert html.count('-failures"') == 5  # one path per plot panel, not 400 lines each
    assert "vm-399" in html  # still listed in the table
    assert "<summary>350 more failed migrations</summary>" in html
