"""``drain`` without a password and without a terminal says so and exits 2 (usage), never 1.

Exit 1 is "VMs left in place"; a prompt that cannot be shown (cron, CI, a pipe) printed
"Aborted." and exited 1 before, which read as a failed drain. No vCenter is contacted: the
credential check comes first, so the address need not exist.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("dry_run", [True, False])
def test_no_password_and_no_terminal_is_a_usage_error_that_says_why(dry_run: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VVOLGUARD_PASSWORD"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vvolguard.cli.main",
            "drain",
            "--vcenter",
            "vcsa01.example.invalid",
            "--host",
            "esx-03",
            *(["--dry-run"] if dry_run else []),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Aborted" not in proc.stderr + proc.stdout
    assert "VVOLGUARD_PASSWORD" in proc.stderr and "no terminal" in proc.stderr
    assert ("dry run" in proc.stderr) is dry_run
