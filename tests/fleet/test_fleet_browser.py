"""The fleet report in headless Chromium, with the incident report's probe: it loads with no error
and no Content-Security-Policy violation (nothing fetched, nothing run)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from vvolguard.fleet.run import FleetResult

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent


def _module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fleet_report_loads_clean_in_a_browser(reference: FleetResult, tmp_path: Path) -> None:
    root = _module(HERE.parent / "conftest.py", "vvolguard_tests_root_conftest_fleet")
    exe = root.require_tool("chromium", "the fleet report is checked in a real browser")
    browser = _module(HERE.parent / "report" / "test_html_browser.py", "vvolguard_report_browser_helpers")
    page = (reference.out / "report.html").read_text(encoding="utf-8")
    _path, probe, console = browser.load(exe, tmp_path, page, "fleet.html")
    assert probe["errors"] == [] and probe["violations"] == [], probe
    assert not [line for line in console if "Refused" in line or "ERR_" in line], console
    assert probe["height"] > 800  # the sections are laid out, not an empty page
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
