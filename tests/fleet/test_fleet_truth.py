"""What ``fleet`` finds in a simulated estate against what the simulator planted there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl

from vvolguard.analysis.migrations import host_key
from vvolguard.fleet.run import FleetResult
from vvolguard.records import EvidenceKind


def _overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["start"] <= b["end"] and b["start"] <= a["end"]


def test_every_planted_incident_is_found_on_its_host(reference: FleetResult, truth: dict[str, Any]) -> None:
    planted = truth["incidents"]
    assert {i["class"] for i in planted} >= {
        "provider-saturation",
        "provider-registration",
        "pe-presentation",
        "certificate-lifecycle",
    }
    found = reference.summary["incidents"]
    for want in planted:
        matches = [
            got
            for got in found
            if got["class"] == want["class"]
            and got["provider"] == want["provider"]
            and host_key(got["host"]) == host_key(want["host"])
            and _overlaps(got, want)
        ]
        assert matches, f"planted incident not found: {want}"


def test_nothing_is_reported_on_quiet_hosts(reference: FleetResult, truth: dict[str, Any]) -> None:
    quiet = {host_key(h) for h in truth["quiet_hosts"]}
    assert quiet, "the estate must have hosts nothing happened to"
    on_quiet = [i for i in reference.summary["incidents"] if i["host"] and host_key(i["host"]) in quiet]
    assert on_quiet == []
    # and the quiet hosts were read: their silence is evidence, not absence
    seen = set(reference.tables["buckets"].get_column("host_key").unique().to_list())
    assert quiet <= seen


def test_learned_safe_concurrency_lies_between_sustained_and_the_sweep_knee(
    reference: FleetResult, truth: dict[str, Any]
) -> None:
    learned = {p["provider"]: p for p in reference.summary["providers"]}
    checked = 0
    for provider in truth["providers"]:
        sustained, knee = provider["sustained_in_waves"], provider["sweep_knee"]
        if sustained is None or knee is None:
            continue
        got = learned[provider["name"]]["learned_safe_concurrency"]
        assert got is not None, provider["name"]
        assert min(sustained, knee) <= got <= max(sustained, knee), (provider, got)
        if provider["pressure_from_in_waves"] is not None:
            assert learned[provider["name"]]["pressure_began_at"] == provider["pressure_from_in_waves"]
        checked += 1
    assert checked >= 2


def test_tables_hold_what_the_issue_lists(reference: FleetResult) -> None:
    out = reference.out
    for name in ("buckets", "migrations", "storms", "certificates", "setcontext", "incidents", "files"):
        assert (out / f"{name}.parquet").is_file(), name
    buckets = pl.read_parquet(out / "buckets.parquet")
    assert {"no_free_conn", "busy", "failure", "outstanding_max", "ceiling", "create_p95_ms"} <= set(
        buckets.columns
    )
    # a saturated wave shows busy answers and slow swap creates; the restart shows setContext failures
    assert buckets.get_column("busy").sum() > 0
    assert buckets.get_column("create_p95_ms").drop_nulls().max() > 1000  # type: ignore[operator]
    assert pl.read_parquet(out / "setcontext.parquet").get_column("setcontext_failure").sum() > 0
    certs = pl.read_parquet(out / "certificates.parquet")
    assert (
        "renew" in certs.get_column("status").to_list() or "critical" in certs.get_column("status").to_list()
    )


def test_report_is_self_contained_and_shows_each_part(reference: FleetResult) -> None:
    page = (reference.out / "report.html").read_text()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "<script" not in page
    for section in ("providers", "safe-concurrency", "heat-map", "incidents", "certificates"):
        assert f'id="{section}"' in page, section
    worst = reference.summary["providers"][0]["provider"]
    assert worst in page


def test_estate_truth_is_recognised_and_never_evidence(reference: FleetResult, estate: Path) -> None:
    files = pl.read_parquet(reference.out / "files.parquet")
    row = files.filter(pl.col("path").str.ends_with("estate-truth.json"))
    assert row.get_column("kinds").to_list() == [str(EvidenceKind.GROUND_TRUTH)]
    assert not any("estate-truth" in w for w in reference.summary["warnings"])


def test_limits_shows_what_the_fleet_learned(reference: FleetResult, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vvolguard.cli.main",
            "limits",
            "--store",
            str(tmp_path / "none.sqlite"),
            "--fleet",
            str(reference.out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["drains"] == []
    got = {p["provider"]: p["safe"] for p in doc["fleet"]}
    assert got == {p["provider"]: p["learned_safe_concurrency"] for p in reference.summary["providers"]}
