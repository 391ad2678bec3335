"""Shared test helpers.

Integration tests that need system packages (Go for the vCenter simulator, Chromium for the HTML
report) skip on a developer machine that lacks them, but fail in CI (CI=true), where
`make test` installs them: a green CI must mean they ran.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(tool: str, why: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{tool} is required in CI ({why}); `make test` should have installed it")
    pytest.skip(f"{tool} not installed ({why})")
