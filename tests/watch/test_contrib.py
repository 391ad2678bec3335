"""The shipped alert rules (promtool check + unit tests for every alert) and the Grafana
dashboard (structure, and every metric they use is one watch exports)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml
from tests.conftest import require_tool

from vvolguard.watch.certs import CertificateWatch
from vvolguard.watch.ingest import Ingest
from vvolguard.watch.metrics import WatchCollector
from vvolguard.watch.state import WatchState
from vvolguard.watch.vcenter import VCenterWatch

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib" / "prometheus" / "vvolguard-alerts.yml"
RULE_TESTS = ROOT / "contrib" / "prometheus" / "vvolguard-alerts.test.yml"
DASHBOARD = ROOT / "contrib" / "grafana" / "vvolguard.json"
METRIC = re.compile(r"\bvvolguard_[a-z_]+\b")


def exported_names() -> set[str]:
    """Every sample name watch can export, from the collectors' families."""
    state = WatchState()
    vcenter = VCenterWatch("https://vc.example", "reader", "pw")  # not started: names only
    collector = WatchCollector(state, Ingest(state), CertificateWatch(), [vcenter])
    names: set[str] = set()
    for family in collector.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_sum", "_count")}
        else:
            names.add(family.name)
    return names


def _alerts() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_checks_the_rules() -> None:
    promtool = require_tool("promtool", "checks the shipped Prometheus alert rules")
    done = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in done.stdout


def test_promtool_unit_tests_pass_and_cover_every_alert() -> None:
    promtool = require_tool("promtool", "runs the unit tests of the shipped alert rules")
    done = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"] for t in tests for case in t.get("alert_rule_test", []) if case.get("exp_alerts")
    }
    assert fired == {a["alert"] for a in _alerts()}  # each alert is shown firing at least once


def test_every_alert_has_a_runbook_link_into_the_readme_and_uses_exported_metrics() -> None:
    readme = (ROOT / "README.md").read_text()
    names = exported_names()
    for alert in _alerts():
        link = alert["annotations"]["runbook_url"]
        # relative to where the README is hosted (the rules file says how to give a base), never
        # a guessed absolute address
        assert link.startswith("README.md#"), link
        anchor = link.split("#", 1)[1]
        assert anchor == "alert-" + alert["alert"].lower()
        # GitHub's anchor of the heading "Alert: `Name`" is "alert-name"
        assert f"\n##### Alert: `{alert['alert']}`\n" in readme, f"README does not describe {alert['alert']}"
        assert alert["labels"]["severity"] in ("warning", "critical")
        used = set(METRIC.findall(alert["expr"]))
        assert used and used <= names, used - names


def test_grafana_dashboard_structure() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int)
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "host", "provider"} <= variables
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    names = exported_names()
    used: set[str] = set()
    occupied: set[tuple[int, int]] = set()
    for panel in dash["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"panel {panel['title']!r} overlaps another"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "state-timeline", "stat", "table", "gauge", "bargraph"}
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
            for var in re.findall(r"\$(\w+)", expr):
                assert var in variables
            used |= set(METRIC.findall(expr))
    assert used <= names, used - names
    # the runbook's signals are all on the one dashboard
    for signal in (
        "vvolguard_vasa_pressure",
        "vvolguard_vasa_no_free_connection_waits_total",
        "vvolguard_vasa_provider_busy_total",
        "vvolguard_migration_failures_total",
        "vvolguard_migrations_in_flight",
        "vvolguard_provider_certificate_expiry_days",
        "vvolguard_host_events_total",
        "vvolguard_vasa_provider_status",
    ):
        assert signal in used
