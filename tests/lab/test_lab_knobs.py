"""Fault knobs: SSH refused on a host, SMS down, a second user lacking privileges."""

from __future__ import annotations

import asyncio
import urllib.error
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from lab_fixture import connect, disconnect, host_named, sms_service
from pyVmomi import vim

from vvolguard.lab import LIMITED_USER, LabError, LabInfo, start_lab


@pytest.fixture(scope="module")
def faulty(lab_factory: Any) -> LabInfo:
    return lab_factory(
        "saturation",
        ssh_refused=["esx04"],
        sms_down=True,
        missing_privileges=["Global.Diagnostics", "System.View"],
    )


def test_ssh_refused_on_one_host_only(faulty: LabInfo) -> None:
    async def attempt(host: str) -> str:
        async with asyncssh.connect(host, config=[faulty.ssh_config]) as conn:
            return (await conn.run("esxcli system hostname get")).stdout

    with pytest.raises(ConnectionRefusedError):
        asyncio.run(attempt("esx04"))
    assert "esx03" in asyncio.run(attempt("esx03"))


def test_sms_down_answers_503(faulty: LabInfo) -> None:
    si = connect(faulty)
    try:
        with pytest.raises((vim.fault.HttpFault, urllib.error.HTTPError, Exception)) as caught:
            sms_service(faulty, si).QueryStorageManager()
        assert "503" in str(caught.value) or "Service Unavailable" in str(caught.value)
    finally:
        disconnect(si)


def test_the_limited_user_lacks_exactly_the_named_privileges(faulty: LabInfo) -> None:
    assert faulty.limited_user == LIMITED_USER and faulty.limited_password
    assert faulty.limited_password != faulty.password
    limited = connect(faulty, faulty.limited_user, faulty.limited_password)
    full = connect(faulty)
    try:
        for si, denied in ((limited, True), (full, False)):
            content = si.RetrieveContent()
            host = host_named(si, "esx01.vvol.lab")
            calls = (
                lambda c=content: c.taskManager.CreateCollectorForTasks(vim.TaskFilterSpec()),
                lambda c=content, h=host: c.diagnosticManager.BrowseDiagnosticLog(
                    host=h, key="vvold", lines=5
                ),
            )
            for call in calls:
                if denied:
                    with pytest.raises(vim.fault.NoPermission) as caught:
                        call()
                    assert caught.value.privilegeId in ("System.View", "Global.Diagnostics")
                else:
                    call()
            answers = content.authorizationManager.HasPrivilegeOnEntity(
                entity=host,
                sessionId=content.sessionManager.currentSession.key,
                privId=["Global.Diagnostics", "StorageViews.View"],
            )
            assert list(answers) == ([False, True] if denied else [True, True])
            user = faulty.limited_user if denied else faulty.user
            [fetched] = content.authorizationManager.FetchUserPrivilegeOnEntities(
                entities=[host], userName=user
            )
            assert "StorageViews.View" in fetched.privileges
            assert ("Global.Diagnostics" in fetched.privileges) is not denied
        with pytest.raises(vim.fault.InvalidLogin):
            connect(faulty, faulty.limited_user, faulty.password)
    finally:
        disconnect(limited)
        disconnect(full)


def test_bad_knobs_are_refused_before_anything_starts(simulator_built: None) -> None:
    with (
        pytest.raises(LabError, match="unknown privilege"),
        start_lab("healthy", missing_privileges=["Nope.Nothing"]),
    ):
        pass
    with pytest.raises(LabError, match="unknown host"), start_lab("healthy", ssh_refused=["esx99"]):
        pass
    with pytest.raises(LabError, match="unknown scenario"), start_lab("no-such-scenario"):
        pass
    with pytest.raises(LabError, match="no variant"), start_lab("saturation", variant="near-expiry"):
        pass


def test_no_password_in_any_file_the_lab_wrote(faulty: LabInfo) -> None:
    files = [p for p in Path(faulty.folder).rglob("*") if p.is_file()]
    assert len(files) > 10
    for secret in (faulty.password, faulty.limited_password):
        assert not [p for p in files if secret.encode() in p.read_bytes()]
