"""Labs for the tests: one per scenario and module, started with the public API (``start_lab``)
and checked the way a client would (pyVmomi with the lab's CA, asyncssh with its ssh_config).

Without Go the tests skip on a developer machine; in CI (where ``make test`` installs ``golang-go``
and ``golang-github-vmware-govmomi-dev``) and wherever Go is installed, a simulator that does not
build fails them (``tests/conftest.py::require_simulator``).
"""

from __future__ import annotations

import importlib.util
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import SoapStubAdapter, VmomiSupport, sms, vim

from vvolguard.lab import LabInfo, start_lab


def _require_simulator(why: str) -> Path:
    """``tests/conftest.py::require_simulator``, loaded by path (several conftest modules)."""
    spec = importlib.util.spec_from_file_location(
        "_vvolguard_root_conftest", Path(__file__).parents[1] / "conftest.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(module.require_simulator(why))


@pytest.fixture(scope="session")
def simulator_built() -> None:
    _require_simulator("builds the govmomi vCenter simulator the lab serves")


@pytest.fixture(scope="module")
def lab_factory(simulator_built: None) -> Iterator[Callable[..., LabInfo]]:
    """``lab_factory(scenario, **knobs)``: a running lab, stopped at the end of the module."""
    stack: list[Any] = []

    def factory(scenario: str, **knobs: Any) -> LabInfo:
        manager = start_lab(scenario, **knobs)
        info = manager.__enter__()
        stack.append(manager)
        return info

    yield factory
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


def tls_context(lab: LabInfo) -> ssl.SSLContext:
    """Verification on: the lab's CA and nothing else."""
    return ssl.create_default_context(cafile=lab.ca_file)


def connect(lab: LabInfo, user: str | None = None, password: str | None = None) -> Any:
    return SmartConnect(
        host="127.0.0.1",
        port=lab.port,
        user=user or lab.user,
        pwd=password or lab.password,
        sslContext=tls_context(lab),
    )


def disconnect(si: Any) -> None:
    Disconnect(si)


def sms_service(lab: LabInfo, si: Any) -> Any:
    """pyVmomi's SMS bindings at /sms/sdk with the vCenter session cookie, as clients connect."""
    stub = SoapStubAdapter(
        host="127.0.0.1",
        port=lab.port,
        path="/sms/sdk",
        version=VmomiSupport.newestVersions.GetName("sms"),
        sslContext=tls_context(lab),
    )
    stub.cookie = si._stub.cookie
    return sms.ServiceInstance("ServiceInstance", stub)


def all_of(si: Any, kind: Any) -> list[Any]:
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    try:
        return list(view.view)
    finally:
        view.Destroy()


def host_named(si: Any, name: str) -> Any:
    return next(h for h in all_of(si, vim.HostSystem) if h.name == name)
