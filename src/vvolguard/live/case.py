"""The case folder ``collect`` writes: evidence files in the formats ``diagnose`` reads, and one
manifest (``case.json``) saying what was gathered, from where, for which window, and what is
missing with the permission or command that would get it.

Why a manifest: a partial case must say it is partial. The evidence readers recognise the file
(:mod:`vvolguard.evidence.casefile`), so ``diagnose`` of a collected case repeats each missing
source as a warning instead of concluding from absence.

Nothing secret is ever written here: no password, session cookie or token reaches a
:class:`Case` (the collectors hold them, the case only gets evidence and messages).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from vvolguard.live.window import Window, iso

#: The key that marks the manifest (read by :mod:`vvolguard.evidence.casefile`).
MANIFEST_KEY = "vvolguard_case"
MANIFEST_NAME = "case.json"
SCHEMA = "vvolguard.case/v1"


class CaseError(OSError):
    """The case folder cannot be used (not empty, not writable)."""


@dataclass(frozen=True, slots=True)
class Missing:
    """Evidence a source could not give: what, why, and how to get it."""

    source: str  # tasks / events / providers / storage / vvold-log / certificate
    target: str  # vCenter, a host, a provider
    evidence: str  # what is missing, in the admin's words
    reason: str  # why (a fault name, "connection refused")
    remedy: str  # the permission or command that would get it

    def __str__(self) -> str:
        return f"{self.evidence} ({self.target}) missing: {self.reason}. {self.remedy}"


@dataclass(slots=True)
class SourceResult:
    source: str
    target: str
    files: list[str] = field(default_factory=list)
    items: int = 0
    note: str | None = None


@dataclass
class Case:
    """A case folder being written. Paths given to :meth:`open` are relative to the folder."""

    root: Path
    vcenter: str
    hosts: list[str]
    window: Window
    sources: list[SourceResult] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path, vcenter: str, hosts: list[str], window: Window) -> Case:
        """A new case in ``root``, which must not exist or be an empty folder: collecting into a
        folder with other files would mix two incidents (or overwrite the user's own)."""
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise CaseError(f"{root} exists and is not an empty folder; give a new case folder with -o")
        try:
            root.mkdir(parents=True, exist_ok=True)
            os.chmod(root, 0o700)  # evidence names hosts, users and addresses
        except OSError as exc:
            raise CaseError(f"cannot create the case folder {root}: {exc.strerror or exc}") from None
        case = cls(root=root, vcenter=vcenter, hosts=hosts, window=window)
        case.write_manifest()
        return case

    def path(self, relative: str) -> Path:
        target = (self.root / relative).resolve()
        if self.root.resolve() not in target.parents:
            raise ValueError(f"{relative!r} is outside the case folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    @contextmanager
    def open(self, relative: str) -> Iterator[IO[bytes]]:
        """A file of the case for writing bytes (streamed: logs can be GBs)."""
        target = self.path(relative)
        with target.open("wb") as fh:
            yield fh

    def write_text(self, relative: str, text: str) -> Path:
        target = self.path(relative)
        target.write_text(text, encoding="utf-8")
        return target

    def discard(self, relative: str) -> None:
        """Remove a file (or folder) a failed source left half-written, and the folders it
        leaves empty: a partial case must not hold an empty or cut log that looks like evidence."""
        import shutil

        target = self.path(relative)
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        root = self.root.resolve()
        folder = target.parent
        while folder != root and root in folder.parents and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent

    def record(self, result: SourceResult) -> None:
        self.sources.append(result)
        self.write_manifest()

    def miss(self, missing: Missing) -> None:
        self.missing.append(missing)
        self.write_manifest()

    def manifest(self) -> dict[str, Any]:
        from vvolguard import __version__

        return {
            MANIFEST_KEY: SCHEMA,
            "tool": f"vvolguard {__version__}",
            "written": iso(datetime.now(UTC)),
            "vcenter": self.vcenter,
            "hosts": self.hosts,
            "window": {"start": iso(self.window.start), "end": iso(self.window.end)},
            "sources": [asdict(s) for s in self.sources],
            "missing": [asdict(m) for m in self.missing],
            "complete": not self.missing,
        }

    def write_manifest(self) -> None:
        text = json.dumps(self.manifest(), indent=2) + "\n"
        tmp = self.root / (MANIFEST_NAME + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.root / MANIFEST_NAME)

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())
