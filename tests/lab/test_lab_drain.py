"""``vvolguard drain`` against a saturation lab: it reads the pressure in the lab's vvold.log
(other work holds 4 of the provider's 5 operations), so it never runs more than one move at a
time, loses none, and empties the host; the logs read as local files (``--vvold-log``) or over
the lab's SSH endpoints as its OpenSSH config describes them (``--ssh-config``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lab_fixture import all_of, connect, disconnect
from pyVmomi import vim


def _drain(lab: Any, source: str, tmp_path: Path, *logs: str) -> subprocess.CompletedProcess[str]:
    args = [
        sys.executable, "-m", "vvolguard.cli.main", "drain",
        "--host", source, "--vcenter", lab.url.removeprefix("https://").removesuffix("/sdk"),
        "--user", lab.user, "--ca-file", lab.ca_file,
        "--spacing", "0.5", "--cooldown", "3", "--poll", "0.5", "--clear-after", "3",
        "--store", str(tmp_path / "store.sqlite"), "--json", *logs,
    ]  # fmt: skip
    return subprocess.run(
        args,
        env={**os.environ, "VVOLGUARD_PASSWORD": lab.password},
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def _assert_emptied_one_at_a_time(lab: Any, source: str, done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["left"] == [] and result["failed_tasks"] == 0 and result["moved"] > 1
    assert result["safe_limit"] == 1  # the lab's provider had room for one more, never two
    assert lab.password not in done.stdout + done.stderr
    si = connect(lab)
    try:
        assert not [vm.name for vm in all_of(si, vim.VirtualMachine) if vm.runtime.host.name == source]
    finally:
        disconnect(si)


def test_drain_reads_every_hosts_vvold_over_ssh_with_the_labs_ssh_config(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab = lab_factory("saturation")
    source = "esx03.vvol.lab"
    done = _drain(lab, source, tmp_path, "--ssh-config", lab.ssh_config)
    # the source and every destination, each over its own SSH endpoint, host keys checked
    watching = next(line for line in done.stderr.splitlines() if "watching vvold.log over SSH" in line)
    assert all(h in watching for h in lab.hosts), watching
    _assert_emptied_one_at_a_time(lab, source, done)


def test_drain_ssh_config_refuses_a_missing_file_and_no_host_key_check(tmp_path: Path) -> None:
    """Checked before any connection: nothing listens at the vCenter given."""
    nowhere = SimpleNamespace(url="https://127.0.0.1:9/sdk", user="u", ca_file="ca.pem", password="Pw-9f1c")
    missing = _drain(nowhere, "esx01", tmp_path, "--ssh-config", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "nope" in missing.stderr and "Traceback" not in missing.stderr
    config = tmp_path / "ssh_config"
    config.write_text("Host esx01\n    HostName 127.0.0.1\n")
    unsafe = _drain(nowhere, "esx01", tmp_path, "--ssh-config", str(config), "--ssh-no-host-key-check")
    assert unsafe.returncode == 2 and "host keys are checked" in unsafe.stderr


def test_drain_empties_a_host_of_a_saturation_lab_one_move_at_a_time(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab = lab_factory("saturation")
    source = "esx02.vvol.lab"
    logs = [a for h in lab.hosts for a in ("--vvold-log", f"{h}={lab.host_root(h)}/var/run/log/vvold.log")]
    _assert_emptied_one_at_a_time(lab, source, _drain(lab, source, tmp_path, *logs))
