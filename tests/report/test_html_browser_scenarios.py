"""Every simulator scenario's report, as a person sees it in a browser (headless Chromium).

What a tired admin would stumble on, checked on the visible text and the drawn plots: Python text
(``Citation(``, ``True``, ``None``, ``{'``) anywhere outside the quoted evidence; a table and a
plot that disagree (the ceiling, whether the provider reached it, how long it held it); a failed
migration's line on a plot that carries no number to find it in the table. The certificate
scenario also gets a file that cannot be used, so both kinds of warnings show.

The probe (a script placed before the page's Content-Security-Policy, see test_html_browser.py)
reads the rendered DOM: the visible text without the ``<code>``/``<pre>`` blocks that quote
evidence verbatim, the tables' cells, and each plot's SVG texts and failure marks.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_html_browser import chromium  # tests/report is on sys.path (rootdir conftest)

from vvolguard.pipeline import diagnose
from vvolguard.report.html import render_html
from vvolguard.sim.run import simulate

pytestmark = pytest.mark.browser

SCENARIOS = ["saturation", "registration", "pe-presentation", "certificate", "not-control-plane", "healthy"]

PROBE = """<script>
function cells(sel) {
  return [].map.call(document.querySelectorAll(sel + " tbody tr"), function (tr) {
    return [].map.call(tr.children, function (td) { return td.innerText.trim(); });
  });
}
function __report() {
  var body = document.body.cloneNode(true);
  [].forEach.call(body.querySelectorAll("code, pre, script, #probe-result"), function (e) { e.remove(); });
  [].forEach.call(body.querySelectorAll("details"), function (e) { e.open = true; });
  document.body.appendChild(body); body.style.display = "block";
  var visible = body.innerText; body.remove();
  var plots = {};
  [].forEach.call(document.querySelectorAll("figure.plot"), function (f) {
    var svg = f.querySelector("svg");
    plots[f.id] = svg ? {
      texts: [].map.call(svg.querySelectorAll("text"), function (t) { return t.textContent; }),
      labels: [].map.call(svg.querySelectorAll("g[id*='-label-']"), function (g) { return g.id; }),
      failures: svg.querySelectorAll("g[id*='-failure-']").length
    } : null;
  });
  var out = document.getElementById("probe-result") || document.createElement("pre");
  out.id = "probe-result";
  out.textContent = JSON.stringify({
    visible: visible, plots: plots,
    signals: cells("#signals table"), failed: cells("#migrations table.failed"),
    facts: [].map.call(document.querySelectorAll("#key-facts li"), function (li) { return li.innerText; }),
    sections: [].map.call(document.querySelectorAll("section"), function (s) { return s.id; })
  });
  document.body.appendChild(out);
}
addEventListener("load", __report);
</script>
"""

#: Python text that must never reach a person: reprs, booleans, None, dict and list literals.
PYTHON_TEXT = re.compile(r"Citation\(|ReadWarning\(|\bTrue\b|\bFalse\b|\bNone\b|\{'|\['|\('|datetime\.")


def _report(exe: str, tmp_path: Path, scenario: str) -> tuple[Any, dict[str, Any]]:
    out = tmp_path / scenario
    result = simulate(scenario=scenario, seed=3, out=out, formats="tgz")
    paths = [out / "archives", out / "vcenter", out / "certs"]
    if scenario == "certificate":
        junk = tmp_path / "screenshot.png"
        junk.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
        paths.append(junk)
    d = diagnose(paths, now=datetime.fromisoformat(result.ground_truth["window"]["end"]))
    page = render_html(d)
    head = '<meta charset="utf-8">\n'
    page_file = tmp_path / f"{scenario}.html"
    page_file.write_text(page.replace(head, head + PROBE, 1), encoding="utf-8")
    done = chromium(exe, tmp_path, page_file.as_uri(), "--dump-dom", height=1600)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[:500]
    return d, json.loads(htmllib.unescape(found.group(1)))


def _covered(label_ids: list[str]) -> list[int]:
    """Failure numbers the labels cover: ``plot-inflight-label-3-7`` covers 3..7."""
    numbers: list[int] = []
    for gid in label_ids:
        first, last = (int(x) for x in gid.rsplit("-", 2)[-2:])
        numbers += range(first, last + 1)
    return sorted(numbers)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_report_reads_as_prose_and_tables_agree_with_plots(
    chromium_exe: str, tmp_path: Path, scenario: str
) -> None:
    d, page = _report(chromium_exe, tmp_path, scenario)

    # no Python text outside the quoted evidence
    bad = PYTHON_TEXT.search(page["visible"])
    assert bad is None, page["visible"][max(0, bad.start() - 200) : bad.end() + 200]

    plots = page["plots"]
    failed_rows = page["failed"]
    timed = [f for f in d.migrations.failed if f.time is not None]
    # the table numbers the failures 1..n, and every failure line on the in-flight plot is
    # covered by exactly one label carrying its number
    assert [row[0] for row in failed_rows[: len(timed)]] == [str(n) for n in range(1, len(timed) + 1)]
    inflight = plots.get("plot-inflight")
    if timed and inflight:
        assert inflight["failures"] == len(timed)
        assert _covered(inflight["labels"]) == list(range(1, len(timed) + 1))
        for gid in inflight["labels"]:
            first, last = gid.rsplit("-", 2)[-2:]
            assert any(t.startswith(first) and t.endswith(last) for t in inflight["texts"]), gid
    # every failed row explains itself in words, for its own source and destination
    for row, f in zip(failed_rows, sorted(timed, key=lambda f: f.time), strict=False):
        explained = row[-1]
        assert f"{f.source} (source)" in explained, explained
        assert "bind_retry" not in explained and "no_free_conn" not in explained

    # the signals table and the outstanding plot say the same about each provider's ceiling
    header = ["Provider", "Host", "Ceiling", "Max outstanding", "At ceiling"]
    rows = [dict(zip(header, r[:5], strict=True)) for r in page["signals"]]
    outstanding = plots.get("plot-outstanding")
    if outstanding:
        drawn = {t.removeprefix("ceiling ") for t in outstanding["texts"] if t.startswith("ceiling ")}
        assert drawn <= {r["Ceiling"] for r in rows}, (drawn, rows)
        reached = any(r["At ceiling"] != "—" for r in rows)
        assert ("reached the ceiling" in outstanding["texts"]) == reached, rows
    for r in rows:
        if r["At ceiling"] != "—":
            assert r["Max outstanding"] == r["Ceiling"], r
    # the key facts quote the table's numbers
    for fact in page["facts"]:
        m = re.match(r"(\S+) on (\S+) at its ceiling of (\d+) for (.+?)(?:;|$)", fact)
        if m:
            row = next(r for r in rows if (r["Provider"], r["Host"]) == m.group(1, 2))
            assert (row["Ceiling"], row["At ceiling"]) == (m.group(3), m.group(4)), (fact, row)


def test_certificates_and_both_kinds_of_warnings_are_said_for_people(
    chromium_exe: str, tmp_path: Path
) -> None:
    d, page = _report(chromium_exe, tmp_path, "certificate")
    text = page["visible"]
    assert d.certificates
    assert {"certificates", "warnings", "caveats"} <= set(page["sections"])
    # every certificate field in words: dates, days at the incident and now, names, the host
    cert = d.certificates[0]
    assert re.search(rf"Valid until\s+{cert['not_after']:%Y-%m-%d %H:%M:%S}Z", text)
    days = abs(round(cert["days_left_at_incident"]))
    assert f"expired {days} days before the incident" in text
    assert ", ".join(cert["names"]) in text
    assert f"yes ({cert['provider_host']})" in text
    assert "matches_provider" not in text and "days_left" not in text
    # the file that could not be used and the one used with a caveat are listed apart
    not_used = text[text.index("Not used (") : text.index("Used, with a caveat (")]
    caveats = text[text.index("Used, with a caveat (") : text.index("Inputs (")]
    assert "screenshot.png" in not_used and "screenshot.png" not in caveats
    assert "times carry no time zone" in caveats and "times carry no time zone" not in not_used
