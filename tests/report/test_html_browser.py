"""The HTML report in a real browser (headless Chromium), as a person would open it.

A tiny probe script is placed in the page *before* its Content-Security-Policy (a meta CSP only
governs what follows it), so the report itself stays script-free. The probe records load errors and
CSP violations and, once parsed, writes each plot's position and size into the DOM, which
``--dump-dom`` hands back. A screenshot at those positions shows whether the plots were drawn.
A negative control (an external image added to the page) proves the probe and the console capture
would catch a report that tried to reach the network.
"""

from __future__ import annotations

import html as htmllib
import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.image import imread

from vvolguard.analysis.model import Diagnosis
from vvolguard.report.html import render_html

pytestmark = pytest.mark.browser

PLOT_IDS = ["plot-inflight", "plot-outstanding", "plot-waits", "plot-latency"]
WIDTH = 1280

PROBE = """<script>
window.__probe = {errors: [], violations: []};
addEventListener("error", function (e) {
  __probe.errors.push(String(e.message || (e.target && (e.target.src || e.target.href)) || "error"));
}, true);
document.addEventListener("securitypolicyviolation", function (e) {
  __probe.violations.push(e.violatedDirective + " " + e.blockedURI);
});
function box(el) {
  var r = el.getBoundingClientRect();
  return [el.id, r.left + scrollX, r.top + scrollY, r.width, r.height];
}
function __report() {
  var plots = [].map.call(document.querySelectorAll("figure.plot"), function (f) {
    var svg = f.querySelector("svg"), r = svg ? svg.getBoundingClientRect() : null;
    return {id: f.id, svg: !!svg,
            elements: svg ? svg.querySelectorAll("*").length : 0,
            paths: svg ? svg.querySelectorAll("path").length : 0,
            texts: svg ? [].map.call(svg.querySelectorAll("text"), function (t) {
              return t.textContent; }) : [],
            failures: svg ? [].map.call(svg.querySelectorAll("g[id*='-failure-']"), box) : [],
            rect: r ? [r.left + scrollX, r.top + scrollY, r.width, r.height] : null};
  });
  var out = document.getElementById("probe-result") || document.createElement("pre");
  out.id = "probe-result";
  out.textContent = JSON.stringify({plots: plots, errors: __probe.errors,
    violations: __probe.violations, height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
}
document.addEventListener("DOMContentLoaded", __report);
addEventListener("load", __report);
</script>
"""


def chromium(
    exe: str, tmp_path: Path, url: str, *extra: str, height: int = 2400
) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size={WIDTH},{height}",
        *extra,
        url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


def with_probe(page: str) -> str:
    head = '<meta charset="utf-8">\n'
    assert head in page
    return page.replace(head, head + PROBE, 1)


def load(exe: str, tmp_path: Path, page: str, name: str) -> tuple[Path, dict[str, Any], list[str]]:
    path = tmp_path / name
    path.write_text(with_probe(page), encoding="utf-8")
    done = chromium(exe, tmp_path, path.as_uri(), "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', done.stdout, re.S)
    assert found, "probe did not run: " + done.stdout[:500]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return path, json.loads(htmllib.unescape(found.group(1))), console


def red(a: np.ndarray) -> np.ndarray:
    """Pixels of the failure-line red (#d50000), tolerant of antialiasing at the line centre."""
    return (a[:, :, 0] > 0.6) & (a[:, :, 1] < 0.25) & (a[:, :, 2] < 0.25)


def pink(a: np.ndarray) -> np.ndarray:
    """Pixels of the at-ceiling band (#ef9a9a at 45%, possibly over the grey storm shading)."""
    return (a[:, :, 0] > 0.85) & (a[:, :, 1] > 0.65) & (a[:, :, 1] < 0.88) & (a[:, :, 2] < 0.88)


def test_report_renders_with_no_errors_and_every_plot_drawn(
    chromium_exe: str, tmp_path: Path, saturation: Diagnosis
) -> None:
    path, probe, console = load(chromium_exe, tmp_path, render_html(saturation), "report.html")
    assert console == []
    assert probe["errors"] == [] and probe["violations"] == []

    plots = {p["id"]: p for p in probe["plots"]}
    assert list(plots) == PLOT_IDS
    for pid, p in plots.items():
        assert p["svg"], pid
        assert p["elements"] > 60 and p["paths"] > 15, (pid, p["elements"], p["paths"])
        x, y, w, h = p["rect"]
        assert w > 900 and h > 150, (pid, p["rect"])  # scaled to the page width, aspect kept
    # the plots are stacked in one page column: same left edge and width
    assert len({round(p["rect"][0]) for p in plots.values()}) == 1
    assert len({round(p["rect"][2]) for p in plots.values()}) == 1
    # the three failures carry the numbers of their rows in the failed-migrations table
    assert {"1", "2", "3"} <= set(plots["plot-inflight"]["texts"])

    bottom = max(p["rect"][1] + p["rect"][3] for p in plots.values())
    shot = tmp_path / "report.png"
    done = chromium(
        chromium_exe, tmp_path, path.as_uri(), f"--screenshot={shot}", height=math.ceil(bottom) + 40
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    image = imread(shot)[:, :, :3]
    assert image.shape[1] == WIDTH

    for pid, p in plots.items():
        x, y, w, h = (round(v) for v in p["rect"])
        region = image[y : y + h, x : x + w]
        ink = (region < 0.92).any(axis=2).mean()
        assert ink > 0.04, (pid, ink)  # axes, lines, shading and text were painted

        # every failed migration is a visible dashed red line on this plot, where the SVG put it
        marks = p["failures"]
        assert len(marks) == 3 * (2 if pid == "plot-outstanding" else 1), (pid, marks)
        for _id, mx, my, mw, mh in marks:
            cx, top, height = round(mx + mw / 2), round(my), round(mh)
            assert height > 60, (pid, _id, mh)
            column = image[top : top + height, cx - 1 : cx + 2]
            assert red(column).any(axis=1).mean() > 0.45, (pid, _id)  # dashes: ~2/3 on
    # the three lines sit at the same x on every plot: one shared time axis
    xs = {pid: sorted(round(m[1] + m[3] / 2) for m in p["failures"]) for pid, p in plots.items()}
    assert len({tuple(sorted(set(v))) for v in xs.values()}) == 1, xs

    # the provider at its ceiling shows as a red band during the storm, not before it
    x, y, w, h = (round(v) for v in plots["plot-outstanding"]["rect"])
    first_fail = min(m[1] for m in plots["plot-outstanding"]["failures"])
    panel = image[y + int(h * 0.12) : y + int(h * 0.40)]
    before = panel[:, x + int(w * 0.09) : x + int(w * 0.13)]
    during = panel[:, round(first_fail) - 40 : round(first_fail) - 5]
    assert pink(during).mean() > 0.3 and pink(before).mean() < 0.05, (
        pink(before).mean(),
        pink(during).mean(),
    )


def test_probe_would_catch_a_report_that_reaches_out(
    chromium_exe: str, tmp_path: Path, healthy: Diagnosis
) -> None:
    """Negative control: the same checks fail loudly when the page tries to load something."""
    page = render_html(healthy).replace("</main>", '<img src="https://example.invalid/x.png"></main>', 1)
    _, probe, console = load(chromium_exe, tmp_path, page, "leaky.html")
    assert any("example.invalid" in v for v in probe["violations"])
    assert any("example.invalid" in line for line in console)
