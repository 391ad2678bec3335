"""The simulate, sweep and demo commands, through the real typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from vvolguard.cli.main import app
from vvolguard.evidence.groundtruth import GroundTruthReader
from vvolguard.evidence.source import from_bytes
from vvolguard.records import GroundTruth

runner = CliRunner(env={"COLUMNS": "200"})  # rich wraps at 80 columns otherwise


def test_simulate_writes_evidence_and_refuses_a_full_folder(tmp_path: Path) -> None:
    out = tmp_path / "incident"
    args = [
        "simulate",
        "--scenario",
        "saturation",
        "--hosts",
        "3",
        "--vms",
        "24",
        "--esxi",
        "7",
        "--seed",
        "2",
    ]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "expected diagnosis: provider-saturation" in result.output
    assert len(list(out.glob("esx-*/var/run/log/vvold.log"))) == 3
    assert len(list((out / "archives").glob("*.tgz"))) == 3
    truth = json.loads((out / "ground-truth.json").read_text())
    assert truth["scenario"] == "saturation" and truth["esxi_shape"] == "esxi7"
    before = (out / "ground-truth.json").read_bytes()
    again = runner.invoke(app, [*args, "--seed", "3", "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    assert (out / "ground-truth.json").read_bytes() == before  # nothing was overwritten


def test_simulate_rejects_bad_options(tmp_path: Path) -> None:
    assert runner.invoke(app, ["simulate", "--scenario", "saturation"]).exit_code == 2  # no --out
    bad_profile = runner.invoke(app, ["simulate", "--out", str(tmp_path / "x"), "--profile", "nope"])
    assert bad_profile.exit_code == 2 and "unknown --profile" in bad_profile.output
    bad_variant = runner.invoke(app, ["simulate", "--out", str(tmp_path / "y"), "--variant", "offline"])
    assert bad_variant.exit_code == 2 and "no variant" in bad_variant.output


def test_sweep_prints_table_and_plot(tmp_path: Path) -> None:
    plot = tmp_path / "sweep.png"
    result = runner.invoke(
        app,
        [
            "simulate",
            "sweep",
            "--concurrency",
            "1,2,8,12",
            "--seeds",
            "1",
            "--vms",
            "16",
            "--plot",
            str(plot),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Sustained: " in result.output and "migrations fail from" in result.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert runner.invoke(app, ["simulate", "sweep", "--concurrency", "lots"]).exit_code == 2


def test_demo_diagnoses_the_simulated_incident(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    result = runner.invoke(app, ["demo", "--keep", str(keep)])
    assert result.exit_code == 0, result.output
    assert "VASA PROVIDER SATURATION" in result.output.upper()
    assert "matches the ground truth 'provider-saturation'" in result.output
    assert list((keep / "archives").glob("*.tgz"))


def test_ground_truth_reader() -> None:
    reader = GroundTruthReader()
    doc = json.dumps(
        {"vvolguard_ground_truth": 1, "scenario": "healthy", "expected_class": "healthy"}
    ).encode()
    assert reader.sniff("ground-truth.json", doc) == 100
    assert reader.sniff("tasks.json", b'[{"Id": "Task-task-1"}]') == 0
    records = list(reader.read(from_bytes("ground-truth.json", doc)))
    assert records == [GroundTruth("healthy", "healthy", records[0].citation)]
    broken = from_bytes("ground-truth.json", b'{"vvolguard_ground_truth": 1, "scenario": ')
    assert list(reader.read(broken)) == [] and broken.warnings


def test_profile_overrides_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "roomy"
    result = runner.invoke(
        app, ["simulate", "--out", str(out), "--workers", "12", "--queue", "12", "--seed", "2"]
    )
    assert result.exit_code == 0, result.output
    truth = json.loads((out / "ground-truth.json").read_text())
    assert truth["provider"]["concurrency"] == 12 and truth["provider"]["queue_bound"] == 12
    slow = runner.invoke(
        app, ["simulate", "sweep", "-c", "1,2", "--seeds", "1", "--vms", "4", "--slowdown", "0:100000:20"]
    )
    assert slow.exit_code == 0 and "Even 1 migration(s) at a time failed" in slow.output
    bad = runner.invoke(app, ["simulate", "sweep", "-c", "2", "--slowdown", "1:2"])
    assert bad.exit_code == 2 and "START:END:VALUE" in bad.output
