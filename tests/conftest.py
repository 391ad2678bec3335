"""Shared test helpers.

Integration tests that need system packages (Go for the vCenter simulator, Chromium for the HTML
report) skip on a developer machine that lacks them, but fail in CI (CI=true), where
`make test` installs them: a green CI must mean they ran.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def require_tool(tool: str, why: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{tool} is required in CI ({why}); `make test` should have installed it")
    pytest.skip(f"{tool} not installed ({why})")


def require_simulator(why: str) -> Path:
    """The built govmomi vCenter simulator. Skips only where Go is not installed (outside CI):
    with Go present, a build that fails (govmomi missing, a compile error) fails the test,
    naming the Debian package to install, so "green" never hides lab and live tests that
    did not run."""
    from vvolguard.drain.vcsim.build import VcsimBuildError, build

    go = require_tool("go", why)
    try:
        return build(go=go)
    except VcsimBuildError as exc:
        pytest.fail(f"Go is installed but the vCenter simulator does not build: {exc}")
