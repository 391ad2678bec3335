"""Build the vCenter simulator (``main.go`` here) with Debian's Go and govmomi, offline.

Why a build step at all: govmomi 0.24.2, the version Debian ships, has no fault-rule API and a
synchronous ``RelocateVM_Task`` (docs/drain-background.md §9.4), so the drain tests need our own Go main with
hooks. Debian's packages (``golang-go``, ``golang-github-vmware-govmomi-dev``) put govmomi in a
GOPATH tree, so the build needs no module proxy and no network (§9.2).

The binary is cached under a directory keyed by a hash of the Go source and the Go version, so
only a change of either rebuilds it (the first build takes ~15 s, later calls are instant).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

#: The Go main shipped with the package (package data ``drain/vcsim/*``): main.go (the drain's
#: simulator) and lab.go (what ``vvolguard lab`` adds), one package.
SOURCE = Path(__file__).with_name("main.go")


def sources() -> list[Path]:
    """Every Go file of the program, in a stable order (all of them go into the hash)."""
    return sorted(SOURCE.parent.glob("*.go"))


#: Debian's GOPATH, where ``golang-github-vmware-govmomi-dev`` installs govmomi.
DEFAULT_GOPATH = Path("/usr/share/gocode")
GOVMOMI_SUBDIR = Path("src/github.com/vmware/govmomi/simulator")

#: Name of the cache directory, git-ignored in the repository.
CACHE_DIRNAME = ".vcsim-build"

INSTALL_HINT = "install them with: apt-get install -y golang-go golang-github-vmware-govmomi-dev"


class VcsimBuildError(RuntimeError):
    """The simulator cannot be built here; the message says what is missing and how to fix it."""


def default_cache_dir() -> Path:
    """``$VVOLGUARD_VCSIM_CACHE``, else ``.vcsim-build`` at the repository root when running from
    a checkout, else ``~/.cache/vvolguard/vcsim`` (an installed package must not write into
    site-packages)."""
    env = os.environ.get("VVOLGUARD_VCSIM_CACHE")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / ".git").exists():
            return parent / CACHE_DIRNAME
    return Path.home() / ".cache" / "vvolguard" / "vcsim"


def _gopath() -> Path:
    return Path(os.environ.get("VVOLGUARD_GOPATH", str(DEFAULT_GOPATH)))


def _go_version(go: str) -> str:
    try:
        out = subprocess.run([go, "version"], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise VcsimBuildError(f"`{go} version` failed ({exc}); {INSTALL_HINT}") from exc
    return out.stdout.strip()


def source_digest(go_version: str) -> str:
    """Hash of what determines the binary: our source, the Go version and the govmomi tree's
    version file (a Debian upgrade of govmomi must rebuild)."""
    h = hashlib.sha256()
    for source in sources():
        h.update(source.name.encode())
        h.update(source.read_bytes())
    h.update(go_version.encode())
    for marker in ("src/github.com/vmware/govmomi/go.mod", "src/github.com/vmware/govmomi/CHANGELOG.md"):
        path = _gopath() / marker
        if path.is_file():
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def build(cache_dir: Path | None = None, *, go: str | None = None) -> Path:
    """Return the path of a simulator binary built from the current ``main.go``.

    Raises :class:`VcsimBuildError` with an install hint when Go or govmomi is missing, or with
    the compiler's output when the build fails.
    """
    go = go or shutil.which("go")
    if not go:
        raise VcsimBuildError(f"the Go toolchain (`go`) is not installed; {INSTALL_HINT}")
    gopath = _gopath()
    if not (gopath / GOVMOMI_SUBDIR).is_dir():
        raise VcsimBuildError(f"govmomi's simulator is not under {gopath / GOVMOMI_SUBDIR}; {INSTALL_HINT}")

    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    digest = source_digest(_go_version(go))
    target = cache / digest / "vvolguard-vcsim"
    if target.is_file() and os.access(target, os.X_OK):
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        GO111MODULE="off",
        GOPATH=str(gopath),
        GOPROXY="off",
        GOFLAGS="",
        CGO_ENABLED="0",
        GOCACHE=str(cache / "gocache"),
    )
    partial = target.with_name(f"vvolguard-vcsim.{os.getpid()}.partial")
    try:
        result = subprocess.run(
            [go, "build", "-o", str(partial), *(str(s) for s in sources())],
            cwd=SOURCE.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise VcsimBuildError(f"running `go build` failed: {exc}") from exc
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise VcsimBuildError(f"`go build` of {SOURCE.name} failed:\n{result.stderr.strip()}")
    # Atomic: a concurrent test process either sees no binary or a complete one.
    partial.replace(target)
    return target


if __name__ == "__main__":
    print(build())
