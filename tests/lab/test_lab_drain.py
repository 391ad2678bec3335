"""``vvolguard drain`` against a saturation lab: it reads the pressure in the lab's vvold.log
(other work holds 4 of the provider's 5 operations), so it never runs more than one move at a
time, loses none, and empties the host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from lab_fixture import all_of, connect, disconnect
from pyVmomi import vim


def test_drain_empties_a_host_of_a_saturation_lab_one_move_at_a_time(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab = lab_factory("saturation")
    source = "esx02.vvol.lab"
    args = [
        sys.executable, "-m", "vvolguard.cli.main", "drain",
        "--host", source, "--vcenter", lab.url.removeprefix("https://").removesuffix("/sdk"),
        "--user", lab.user, "--ca-file", lab.ca_file,
        "--spacing", "0.5", "--cooldown", "3", "--poll", "0.5", "--clear-after", "3",
        "--store", str(tmp_path / "store.sqlite"), "--json",
    ]  # fmt: skip
    for host in lab.hosts:
        args += ["--vvold-log", f"{host}={lab.host_root(host)}/var/run/log/vvold.log"]
    done = subprocess.run(
        args,
        env={**os.environ, "VVOLGUARD_PASSWORD": lab.password},
        capture_output=True,
        text=True,
        timeout=600,
    )
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
