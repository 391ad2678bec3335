"""Building the simulator: a clear message when Go or govmomi is missing, a rebuild only when
the source (or toolchain) changed, and a cached binary that is reused."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from vcsim_fixture import vcsim_binary

from vvolguard.drain.vcsim import build as build_mod
from vvolguard.drain.vcsim.build import VcsimBuildError, build, source_digest

__all__ = ["vcsim_binary"]


def test_missing_go_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(
        VcsimBuildError, match="apt-get install -y golang-go golang-github-vmware-govmomi-dev"
    ):
        build(tmp_path, go=str(tmp_path / "no-such-go"))


def test_missing_govmomi_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VVOLGUARD_GOPATH", str(tmp_path / "empty-gopath"))
    with pytest.raises(
        VcsimBuildError, match=r"govmomi's simulator is not under .*golang-github-vmware-govmomi-dev"
    ):
        build(tmp_path, go=shutil.which("go") or "/usr/bin/go")


def test_the_cache_key_follows_the_source_and_the_toolchain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "main.go"
    copy.write_bytes(build_mod.SOURCE.read_bytes())
    monkeypatch.setattr(build_mod, "SOURCE", copy)
    first = source_digest("go version go1.19.8 linux/amd64")
    assert source_digest("go version go1.19.8 linux/amd64") == first
    assert source_digest("go version go1.21.0 linux/amd64") != first
    copy.write_text(copy.read_text() + "\n// changed\n")
    assert source_digest("go version go1.19.8 linux/amd64") != first


def test_a_built_binary_is_reused_not_rebuilt(vcsim_binary: Path) -> None:
    mtime = vcsim_binary.stat().st_mtime_ns
    again = build(vcsim_binary.parent.parent)
    assert again == vcsim_binary and again.stat().st_mtime_ns == mtime
    assert os.access(again, os.X_OK)
