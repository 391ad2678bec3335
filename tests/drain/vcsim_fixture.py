"""Start the govmomi vCenter simulator (``vvolguard.drain.vcsim``) for the drain's integration
tests, and read back what it saw.

Each test gets its own simulator process (it starts in well under a second), so counters such
as "relocations of this VM" belong to that test alone. The simulator keeps running while a
drain *process* is killed and re-run against it, which is what the kill -9 test needs.

Without Go or govmomi the tests skip on a developer machine and fail in CI (``require_tool``),
where ``make test`` installs ``golang-go`` and ``golang-github-vmware-govmomi-dev``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from vvolguard.drain.vcsim.build import VcsimBuildError, build

STATS = "vvolguard.vcsim.stats."
SOURCE = "esx-01"  # the simulator puts the VMs to drain on esx-01.vcsim.test


def _require_tool(tool: str, why: str) -> str:
    """``tests/conftest.py::require_tool``, loaded by path (there are several conftest modules)."""
    spec = importlib.util.spec_from_file_location(
        "_vvolguard_root_conftest", Path(__file__).parents[1] / "conftest.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.require_tool(tool, why)


@pytest.fixture(scope="session")
def vcsim_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = _require_tool("go", "builds the govmomi vCenter simulator for the drain tests")
    try:
        return build(go=go)
    except VcsimBuildError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot build the vCenter simulator in CI: {exc}")
        pytest.skip(f"cannot build the vCenter simulator: {exc}")


@dataclass
class Vcsim:
    """One running simulator: its URL, its certificate and a pyVmomi session for checks."""

    proc: subprocess.Popen[str]
    url: str
    cert: str
    hosts: list[str]
    _si: Any = None
    _stderr: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])

    @property
    def si(self) -> Any:
        if self._si is None:
            ctx = ssl.create_default_context(cafile=self.cert)
            self._si = SmartConnect(host="127.0.0.1", port=self.port, user="test", pwd="test", sslContext=ctx)
        return self._si

    @property
    def content(self) -> Any:
        return self.si.RetrieveContent()

    def set(self, **options: float | int | str) -> None:
        """Change the model at run time: relocateSeconds, failSeconds, providerCeiling, failNext."""
        self.content.setting.UpdateOptions(
            changedValue=[
                vim.option.OptionValue(key=f"vvolguard.vcsim.{k}", value=str(v)) for k, v in options.items()
            ]
        )

    def stats(self) -> dict[str, int]:
        return {o.key[len(STATS) :]: int(o.value) for o in self.content.setting.QueryOptions(STATS)}

    def relocations(self) -> dict[str, int]:
        """Successful relocations per VM name (the simulator counts per moid)."""
        names = {vm._moId: vm.name for vm in self.vms()}
        return {names[k.split(".", 1)[1]]: v for k, v in self.stats().items() if k.startswith("relocated.")}

    def _all(self, kind: Any) -> list[Any]:
        view = self.content.viewManager.CreateContainerView(self.content.rootFolder, [kind], True)
        try:
            return list(view.view)
        finally:
            view.Destroy()

    def vms(self) -> list[Any]:
        return self._all(vim.VirtualMachine)

    def host(self, short: str) -> Any:
        return next(h for h in self._all(vim.HostSystem) if h.name.split(".")[0] == short)

    def placement(self) -> dict[str, str]:
        """VM name -> short name of the host it is registered on (from the VM's runtime.host)."""
        return {vm.name: vm.runtime.host.name.split(".")[0] for vm in self.vms()}

    def host_lists(self) -> dict[str, list[str]]:
        """Short host name -> VM names in the host's own ``vm`` list (must agree with placement)."""
        return {h.name.split(".")[0]: sorted(v.name for v in h.vm) for h in self._all(vim.HostSystem)}

    def stop(self) -> None:
        if self._si is not None:
            with contextlib.suppress(Exception):  # the simulator may be gone already
                Disconnect(self._si)
            self._si = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_vcsim(binary: Path, **flags: object) -> Vcsim:
    """Run the simulator with ``-name value`` flags (``relocate_seconds=0.5`` → ``-relocate-seconds``)."""
    args = [str(binary), "-exit-on-stdin-eof"]  # it follows us if pytest is killed
    for k, v in flags.items():
        name = "-" + k.replace("_", "-")
        args.append(f"{name}={str(v).lower() if isinstance(v, bool) else v}")
    proc = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=60)
    if not lines or not lines[0].strip():
        proc.kill()
        raise RuntimeError(f"the simulator did not start: {proc.stderr.read()[-2000:]}")
    info = json.loads(lines[0])
    sim = Vcsim(proc=proc, url=info["url"], cert=info["cert"], hosts=info["hosts"])
    # Drain stderr in the background so a chatty simulator never blocks on a full pipe.
    threading.Thread(target=lambda: sim._stderr.extend(proc.stderr), daemon=True).start()
    return sim


@pytest.fixture
def vcsim_factory(vcsim_binary: Path) -> Iterator[Any]:
    """``vcsim_factory(**flags) -> Vcsim``; every simulator started is stopped after the test."""
    started: list[Vcsim] = []

    def factory(**flags: object) -> Vcsim:
        sim = start_vcsim(vcsim_binary, **flags)
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy (tests of a live process only)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(interval)


def journal_events(db: Path) -> list[tuple[int, str | None, str, str | None]]:
    """(run_id, vm_id, event, detail) of every drain run in the journal, in write order."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return list(conn.execute("SELECT run_id, vm_id, event, detail FROM drain_events ORDER BY rowid"))
    finally:
        conn.close()


@dataclass
class Timeline:
    """What the journal says the drain did, replayed: in-flight counts at each submission and
    failure. The journal is written before each step, so it is the drain's own account."""

    submissions: list[tuple[str, int]] = field(default_factory=list)  # (vm, in flight before it)
    failures: list[tuple[int, int]] = field(default_factory=list)  # (event index, in flight incl. it)
    retries: list[tuple[str, int, bool]] = field(default_factory=list)  # (vm, in flight before, alone)
    peak: int = 0


def replay(events: list[tuple[int, str | None, str, str | None]]) -> Timeline:
    tl = Timeline()
    inflight: set[str] = set()
    attempted: set[str] = set()
    retry_running: str | None = None
    for index, (_run, vm, event, _detail) in enumerate(events):
        if vm is None:
            continue
        if event == "submitted":
            if retry_running is not None and vm != retry_running:
                tl.retries[-1] = (tl.retries[-1][0], tl.retries[-1][1], False)  # not alone
            if vm in attempted:
                tl.retries.append((vm, len(inflight), not inflight))
                retry_running = vm
            tl.submissions.append((vm, len(inflight)))
            attempted.add(vm)
            inflight.add(vm)
            tl.peak = max(tl.peak, len(inflight))
        elif event in ("succeeded", "failed", "left", "replanned"):
            if event == "failed":
                tl.failures.append((index, len(inflight)))
            inflight.discard(vm)
            if vm == retry_running:
                retry_running = None
    return tl


def assert_backed_off(events: list[tuple[int, str | None, str, str | None]]) -> Timeline:
    """At least one failure; after each failure the next submission waits until fewer than
    ``k - 1`` moves are in flight (``k`` = in flight when it failed): a drain that merely refills
    the failed slot does not pass. Every retry ran alone."""
    tl = replay(events)
    assert tl.failures, "the pressure model produced no failure: the test proves nothing"
    submitted_at = [i for i, e in enumerate(events) if e[2] == "submitted"]
    for index, k in tl.failures:
        later = [i for i in submitted_at if i > index]
        if not later:
            continue
        before = tl.submissions[submitted_at.index(later[0])][1]
        assert before < max(1, k - 1), f"no back-off: {before} in flight at the next submission (was {k})"
    assert tl.retries, "no failed VM was retried"
    for vm, before, alone in tl.retries:
        assert before == 0 and alone, f"retry of {vm} did not run alone"
    return tl
