"""The root command: ``--version`` and bare ``vvolguard`` behave as an admin expects."""

from __future__ import annotations

import subprocess
import sys

from vvolguard import __version__


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vvolguard.cli.main", *args], capture_output=True, text=True, timeout=60
    )


def test_version_prints_the_version_and_exits_0() -> None:
    proc = _run("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == __version__


def test_no_command_shows_the_commands() -> None:
    proc = _run()
    assert "diagnose" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
