"""Renderers on Diagnoses the real pipeline produced from the fixture support bundles.

The hand-built samples in conftest.py pin down the renderers; this checks the contract with the
analysis: every real Diagnosis validates against the v1 schema and renders everywhere."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from fixtures.bundles import INCIDENTS, NOW, SHAPES  # tests/fixtures, on sys.path via tests/conftest.py
from vvolguard.analysis.model import Diagnosis, FailureClass
from vvolguard.pipeline import diagnose
from vvolguard.report.html import render_html
from vvolguard.report.json_schema import diagnosis_schema
from vvolguard.report.jsonout import to_json
from vvolguard.report.markdown import render_markdown
from vvolguard.report.terminal import render_terminal
from vvolguard.report.view import short_ref, short_text


@pytest.fixture(scope="module", params=sorted(INCIDENTS))
def real(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Diagnosis]:
    incident = INCIDENTS[request.param]()
    paths = incident.write(tmp_path_factory.mktemp(request.param), SHAPES[0])
    return request.param, diagnose(paths, now=NOW)


def test_real_diagnosis_validates_against_the_schema(real: tuple[str, Diagnosis]) -> None:
    _, d = real
    validator = jsonschema.Draft202012Validator(diagnosis_schema())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(json.loads(to_json(d)))]
    assert errors == []


def test_real_diagnosis_renders_everywhere(real: tuple[str, Diagnosis]) -> None:
    _, d = real
    buf = io.StringIO()
    render_terminal(d, Console(file=buf, width=100), verbose=True)
    text = buf.getvalue()
    # prose fits; paths, cited lines, commands and warnings are printed whole (soft-wrapped)
    whole = {m.command for m in d.missing_evidence} | {str(w) for w in d.warnings}
    for f in d.findings:
        whole |= {short_ref(c) for c in f.citations} | {short_text(c) for c in f.citations}
    whole = {w.strip() for w in whole}
    lines = [line for line in text.splitlines() if line.strip() not in whole]
    assert max(len(line.rstrip()) for line in lines) <= 100
    md = render_markdown(d)
    assert md.startswith("## vvolguard: ")
    html = render_html(d)
    assert f'data-class="{d.verdict.cls}"' in html
    if d.signals.get("timeline"):
        assert html.count("<svg") >= 3
    if d.verdict.cls == FailureClass.PROVIDER_SATURATION:
        # the storm is short inside a long log: the axis is zoomed on it and says so
        assert 'id="timeline-range"' in html
        for f in d.migrations.failed:
            assert (f.vm or "") in html


def test_real_saturation_draws_each_failure_on_every_plot(tmp_path: Path) -> None:
    d = diagnose(INCIDENTS["saturation"]().write(tmp_path, SHAPES[0]), now=NOW)
    assert d.verdict.cls == FailureClass.PROVIDER_SATURATION and d.migrations.failed
    html = render_html(d)
    for i in range(len(d.migrations.failed)):
        for plot in ("plot-inflight", "plot-outstanding-0", "plot-waits", "plot-latency"):
            assert f'id="{plot}-failure-{i}"' in html, (plot, i)
