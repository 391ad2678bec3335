"""Output piped into a file, a ticket or ``less``: every suggested command is whole and runs.

Each command runs in a fresh process with stdout a pipe (as ``| cat`` gives it) and ``COLUMNS=80``,
the width rich fell back to and hard-wrapped at. A suggested command is a line that starts with
``vvolguard``, a command diagnose prints to collect missing evidence, or a span in backticks. Each
must sit on one line, parse with :mod:`shlex`, and, if it is a vvolguard command, be accepted by
the CLI as printed: the simulator's ``diagnose`` line is run for real; the others are run with
``--help`` appended, which still rejects an unknown option or a broken word.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from vvolguard.sim.run import simulate

ENV = {**os.environ, "COLUMNS": "80", "VVOLGUARD_PASSWORD": ""}
BACKTICKED = re.compile(r"`([^`\n]+)`")


def piped(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vvolguard.cli.main", *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,  # stdout a pipe, as `| cat` gives it
        text=True,
        timeout=timeout,
        env=ENV,
    )


def suggested(text: str) -> list[str]:
    """``vvolguard …`` lines and backticked spans; also checks no backtick span is cut by a
    line break (an odd number of backticks on a line)."""
    found = []
    for line in text.splitlines():
        assert line.count("`") % 2 == 0, f"a backticked command is broken across lines: {line!r}"
        stripped = line.strip()
        if stripped.startswith("vvolguard "):
            found.append(stripped)
        found += [m.group(1) for m in BACKTICKED.finditer(line)]
    return found


def accepted(command: str) -> None:
    """Parses as a shell line; a vvolguard command is accepted by the CLI as printed."""
    words = shlex.split(command)
    assert words, command
    if words[0] != "vvolguard":
        return
    done = piped(*words[1:], "--help", timeout=60)
    assert done.returncode == 0, (command, done.stderr)
    usage = done.stdout.splitlines()[0]
    assert usage.startswith("Usage: ") and f" {words[1]} " in usage, (command, usage)


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pipe") / "incident"
    simulate(scenario="saturation", seed=2, out=out, formats="tgz")
    return out


def test_simulate_prints_a_diagnose_line_that_runs_as_printed(tmp_path: Path) -> None:
    out = tmp_path / "a folder with spaces"  # the line must quote what needs quoting
    done = piped("simulate", "--scenario", "certificate", "--seed", "2", "--out", out)
    assert done.returncode == 0, done.stderr
    lines = [c for c in suggested(done.stdout) if c.startswith("vvolguard diagnose")]
    assert len(lines) == 1, done.stdout
    words = shlex.split(lines[0])
    assert len(lines[0]) > 80  # longer than the old wrap width, and still one line
    ran = piped(*words[1:], "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["verdict"]["class"] == "certificate-lifecycle"


def test_diagnose_prints_whole_commands_for_missing_evidence(incident: Path) -> None:
    done = piped("diagnose", incident / "archives")
    assert done.returncode == 0, done.stderr
    doc = json.loads(piped("diagnose", "--json", incident / "archives").stdout)
    commands = [m["command"] for m in doc["missing_evidence"] if m["command"]]
    assert commands, "the bundles alone should leave vCenter's tasks missing"
    lines = [line.strip() for line in done.stdout.splitlines()]
    for command in commands:
        assert command in lines, command  # one line of its own, nothing before or after it
        accepted(command)
    # cited paths are whole too: every cited file:line of the JSON appears on one line
    for finding in doc["findings"]:
        for c in finding["citations"][:4]:
            name = Path(c["file"].split("!")[0]).name
            assert any(name in line and line.rstrip().endswith(f":{c['line']}") for line in lines), c
    for command in suggested(done.stdout):
        accepted(command)
    # the verdict is plain lines under a heading, not a box as wide as its longest line
    assert lines[:2] == ["", "Verdict"] and doc["verdict"]["summary"] in lines
    assert not any(ch in done.stdout for ch in "┃╭╮┏┓│"), done.stdout[:400]


def test_demo_and_sweep_suggest_commands_that_are_accepted() -> None:
    demo = piped("demo")
    assert demo.returncode == 0, demo.stderr
    sweep = piped("simulate", "sweep", "--concurrency", "1..8", "--seeds", "1", "--vms", "16")
    assert sweep.returncode == 0, sweep.stderr
    commands = suggested(demo.stdout) + suggested(sweep.stdout)
    assert any(c.startswith("vvolguard simulate sweep") for c in commands), demo.stdout[-800:]
    assert any(c.startswith("vvolguard drain") and "--max" in c for c in commands), sweep.stdout
    for command in commands:
        accepted(command)
    # nothing rich draws is cut at 80 columns: the verdict headline and the table rows are whole
    assert "VASA PROVIDER SATURATION" in demo.stdout
    assert not any(line.endswith("…") for line in demo.stdout.splitlines())


def test_escalate_and_errors_are_whole_lines(incident: Path, tmp_path: Path) -> None:
    done = piped("escalate", incident / "archives", "-o", tmp_path / "case.zip")
    assert done.returncode == 0, done.stderr
    collect = [line for line in done.stdout.splitlines() if line.strip().startswith("collect:")]
    assert collect and all(len(line) > 0 for line in collect)
    for command in suggested(done.stdout):
        accepted(command)
    # an error that echoes a long path stays one line, path whole
    missing = tmp_path / ("a-long-folder-name-" * 4) / "vvold.log"
    bad = piped("diagnose", missing)
    assert bad.returncode == 2
    assert any(str(missing) in line for line in bad.stderr.splitlines()), bad.stderr
