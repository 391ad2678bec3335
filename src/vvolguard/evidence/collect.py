"""Turn whatever the admin hands over into a stream of :class:`EvidenceFile` objects.

Accepted: single files (plain or gzip), folders (walked recursively), ESXi support bundles
(``vm-support`` ``.tgz``/``.tar.gz``/``.tar`` files or their extracted folders, several hosts at
once), vCenter's ``vc-support`` bundles (their ``sps.log`` and ``vpxd.log``), ``.zip`` archives of
any of these, and archives nested inside archives (up to :attr:`Limits.max_depth` levels).

This module decides what becomes evidence, the same way for a folder and for an archive: inside a
bundle only the members about vVols (:mod:`~vvolguard.evidence.bundles`), each bundle member once
even when the same bundle is given as a ``.tgz`` and as its extracted folder, every other file
handed out to be sniffed (an unrecognised one gets a warning that names it), archives opened. The
rooms it relies on: :mod:`~vvolguard.evidence.folders` (the untrusted folder walk: links, hard
links, FIFOs), :mod:`~vvolguard.evidence.archives` (tar and zip listed in place, with their
damage and expansion warnings), :mod:`~vvolguard.evidence.hostnames` (which host a file is from).

Every name shown (citations, warnings) goes through :func:`safe_name`. Nothing here writes:
archives are read in place, never extracted to disk.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from vvolguard.evidence.archives import (
    ARCHIVE_ERRORS,
    ArchiveEntry,
    Opener,
    archive_kind,
    is_archive_name,
    open_input,
    tar_entries,
    zip_entries,
)
from vvolguard.evidence.bundles import (
    HOSTNAME_MEMBER,
    HOSTNAME_MEMBER_LIMIT,
    bundle_roots_in,
    is_bundle_member,
    root_of,
)
from vvolguard.evidence.folders import FolderFile, regular_opener, special_kind, walk_folder
from vvolguard.evidence.hostnames import archive_host, bundle_host, host_from_text, host_in_file_name
from vvolguard.evidence.source import (
    Budget,
    EvidenceFile,
    ExpansionLimit,
    Limits,
    safe_name,
    strip_gz,
)
from vvolguard.records import ReadWarning


@dataclass
class Collector:
    """Iterate the evidence under ``paths``; problems with the inputs land in ``warnings``.

    Iterating is lazy and streaming: each file is handed out before the next is looked at, so a
    caller that consumes each file fully reads every archive member in order, once. Use it as a
    context manager (``with Collector(paths) as files:``) so archive handles are closed.
    """

    paths: Iterable[str | os.PathLike[str]]
    limits: Limits = field(default_factory=Limits)
    warnings: list[ReadWarning] = field(default_factory=list)
    #: how many files were looked at, per reason for not reading them (for the summary)
    skipped: dict[str, int] = field(default_factory=dict)
    #: archives stay open so an EvidenceFile can be re-read after iteration moved on (the
    #: escalation package reads excerpts again); ``close`` releases them.
    _archives: list[Any] = field(default_factory=list, repr=False)
    #: (host, path inside the bundle, size) -> where it was first read. The same bundle given as
    #: a .tgz and as its extracted folder (common: the simulator writes both, admins keep both)
    #: must not count every migration and every busy fault twice.
    _seen_members: dict[tuple[str, str, int], str] = field(default_factory=dict, repr=False)
    _duplicate_bundles: set[str] = field(default_factory=set, repr=False)

    def close(self) -> None:
        for archive in reversed(self._archives):
            with contextlib.suppress(Exception):
                archive.close()
        self._archives.clear()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[EvidenceFile]:
        for raw in self.paths:
            display = safe_name(os.fspath(raw))
            path = Path(raw)
            try:
                st = path.stat()  # the user named it: a link they give is theirs to give
            except FileNotFoundError:
                missing = (
                    "a symbolic link to a missing file" if path.is_symlink() else "no such file or folder"
                )
                self._warn(display, missing)
                continue
            except OSError as exc:
                self._warn(display, f"cannot be read: {safe_name(exc.strerror or str(exc))}")
                continue
            if stat.S_ISDIR(st.st_mode):
                yield from self._folder(path, display)
            elif stat.S_ISREG(st.st_mode):
                opener = regular_opener(path, follow=True)
                yield from self._file(opener, display, path.name, None, self._budget(display), 0, st.st_size)
            else:
                self._warn(display, f"{special_kind(st.st_mode)}, not a regular file or folder; not opened")

    # -- helpers ---------------------------------------------------------------------------

    def _warn(self, display: str, message: str, line: int | None = None, *, caveat: bool = False) -> None:
        """``caveat=True``: the input was used (in part); the message says what to keep in mind."""
        self.warnings.append(ReadWarning(display, line, message, caveat))

    def _budget(self, display: str) -> Budget:
        return Budget(self.limits, display, self._warn)

    def _first_copy(self, host: str | None, relative: str, size: int, display: str, bundle: str) -> bool:
        """True the first time a bundle member is seen; later copies are skipped with one
        warning per duplicated bundle."""
        if not host:
            return True
        key = (host.lower(), relative, size)
        first = self._seen_members.setdefault(key, display)
        if first == display:
            return True
        if bundle not in self._duplicate_bundles:
            self._duplicate_bundles.add(bundle)
            original = first.split("!", 1)[0] if "!" in first else str(Path(first).parent)
            self._warn(bundle, f"holds the same support bundle files as {original}; read once")
        self._skip("duplicate copy of a bundle member")
        return False

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    # -- folders -----------------------------------------------------------------------------

    def _folder(self, root: Path, root_display: str) -> Iterator[EvidenceFile]:
        for found in walk_folder(root, root_display, self._warn, self._skip):
            yield from self._folder_file(found)

    def _folder_file(self, found: FolderFile) -> Iterator[EvidenceFile]:
        path, owner, host = found.path, found.bundle, found.host
        display = safe_name(str(path))
        opener = regular_opener(path, follow=False)
        budget = self._budget(display)
        if owner is None:
            yield from self._file(opener, display, path.name, None, budget, 0, found.size)
            return
        relative = path.relative_to(owner).as_posix()
        if is_bundle_member(relative):
            if self._first_copy(host, relative, found.size, display, safe_name(str(owner))):
                yield _evidence(display, path.name, opener, host, found.size, budget)
        else:
            yield from self._file(opener, display, path.name, host, budget, 0, found.size)

    # -- files and archives (any depth) --------------------------------------------------------

    def _file(
        self,
        opener: Opener,
        display: str,
        name: str,
        host: str | None,
        budget: Budget,
        depth: int,
        size: int | None,
    ) -> Iterator[EvidenceFile]:
        """A file or archive member: an archive is opened (within the depth limit), anything
        else is handed out as evidence."""
        probe = open_input(opener, display, self._warn)
        if probe is None:
            return
        try:
            head = probe.read(512)
        except ExpansionLimit:
            return
        except ARCHIVE_ERRORS:
            head = b""  # damaged from its first bytes: reading it names the damage
        finally:
            with contextlib.suppress(Exception):
                probe.close()
        kind = archive_kind(opener, head, name)
        if kind is not None:
            if depth >= self.limits.max_depth:
                self._warn(
                    display,
                    f"archive nested more than {self.limits.max_depth} levels deep (--max-depth); not opened",
                )
                return
            list_entries = zip_entries if kind == "zip" else tar_entries
            entries = list_entries(opener, display, budget, self.limits, self._warn, self._archives.append)
            yield from self._members(entries, display, archive_host(display) or host, budget, depth + 1)
            return
        yield _evidence(display, name, opener, host or host_in_file_name(name), size, budget)

    def _members(
        self, entries: Sequence[ArchiveEntry], display: str, host: str | None, budget: Budget, depth: int
    ) -> Iterator[EvidenceFile]:
        """The members of one archive (tar or zip, the same rules): bundle roots and their hosts,
        bundle members deduplicated, links never followed, nested archives opened."""
        names = {e.name.rstrip("/") for e in entries}
        regular = [e for e in entries if e.is_file]
        roots = bundle_roots_in(e.name for e in regular)
        hosts: dict[str | None, str | None] = {
            root: bundle_host(root) or (host if root == "" else None) for root in roots
        }
        for entry in regular:
            if HOSTNAME_MEMBER.search(entry.name) and entry.size <= HOSTNAME_MEMBER_LIMIT:
                root = root_of(entry.name, roots)
                if hosts.get(root) is None:
                    text = entry.read_head(HOSTNAME_MEMBER_LIMIT)
                    if text:
                        hosts[root] = host_from_text(text.decode("utf-8", "replace"))
        for entry in entries:
            root = root_of(entry.name, roots)
            member_host = hosts.get(root) or host
            member_display = f"{display}!{safe_name(entry.name)}"
            base = PurePosixPath(entry.name).name
            archive_name = is_archive_name(base)
            if root is not None and not archive_name and not is_bundle_member(entry.name):
                self._skip("bundle member not about vVols")
                continue
            if entry.link is not None:
                self._archive_link(entry, member_display, names, root)
                continue
            if not entry.is_file:
                continue  # folders, devices, FIFOs: never opened, nothing to read
            if root is not None and not archive_name:
                relative = entry.name[len(root) + 1 :] if root else entry.name
                if self._first_copy(member_host, relative, entry.size, member_display, display):
                    # No probe: a bundle member is never an archive, and every extra open of a
                    # .tgz member costs a seek in the compressed stream.
                    yield _evidence(member_display, base, entry.opener, member_host, entry.size, budget)
                continue
            yield from self._file(entry.opener, member_display, base, member_host, budget, depth, entry.size)

    def _archive_link(self, entry: ArchiveEntry, display: str, names: set[str], root: str | None) -> None:
        target = entry.link or ""
        if target.startswith("/"):
            resolved = posixpath.normpath(((root + "/") if root else "") + target.lstrip("/"))
        else:
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(entry.name), target))
        if resolved in names and not resolved.startswith("../"):
            self._skip("link to another member (read where it lies)")
            return
        self._warn(
            display, f"link to {safe_name(target)}, outside the archive; links in archives are not followed"
        )


def _evidence(
    display: str, name: str, opener: Opener, host: str | None, size: int | None, budget: Budget
) -> EvidenceFile:
    """One evidence file; its host comes from names and contents the sender controls, so it is
    made as safe to show as the display name."""
    return EvidenceFile(
        display, strip_gz(name), opener, safe_name(host) if host else None, size, budget=budget
    )
