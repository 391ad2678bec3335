"""The folders the user names, walked as untrusted input: which files in them are read.

Why: a folder is often an unpacked vm-support bundle, and bundles are untrusted (issue #17).
Inside a folder the user gave:

* a symbolic link is never followed out of that folder (a bundle unpacked with ``tar x`` may hold
  ``var/run/log/vvold.log -> /etc/passwd``); a link that stays inside is skipped, its target is
  read where it lies;
* a file with several hard links is read only when every one of its names lies inside the folder
  (otherwise one of them may be a file of this machine: skipped, with a warning);
* FIFOs, devices and sockets are never opened (opening a FIFO blocks forever), and the check is
  made again on the open descriptor (:func:`regular_opener`), so a file swapped after the walk
  is refused too;
* inside a bundle (:mod:`vvolguard.evidence.bundles`) only the members about vVols are looked at,
  so its thousands of other files cost no warning.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vvolguard.evidence.archives import IntakeWarn, Opener, is_archive_name
from vvolguard.evidence.bundles import (
    HOSTNAME_MEMBER_LIMIT,
    MEMBER_FOLDERS,
    is_bundle_member,
    looks_like_bundle_root,
)
from vvolguard.evidence.hostnames import bundle_host, host_from_text
from vvolguard.evidence.source import safe_name


@dataclass(frozen=True)
class FolderFile:
    """A regular file found in a folder, and the bundle it lies in (``None``: a loose file)."""

    path: Path
    size: int
    bundle: Path | None
    host: str | None  # the bundle's host, from its name or its hostname outputs


def walk_folder(
    root: Path, root_display: str, warn: IntakeWarn, skip: Callable[[str], None]
) -> Iterator[FolderFile]:
    """The files under ``root`` that are safe and worth reading, in a stable order (see the module
    docstring for the rules); what is refused is named in a warning or counted by ``skip``."""
    inside = os.path.realpath(root)
    bundle_roots: dict[Path, str | None] = {}
    #: inode -> names seen inside the folder, for files with several hard links
    names_of: dict[tuple[int, int], int] = {}
    deferred: list[tuple[Path, os.stat_result, Path | None]] = []
    for dirpath, dirnames, filenames in os.walk(
        root, onerror=lambda e: warn(safe_name(str(e.filename)), safe_name(str(e)))
    ):
        here = Path(dirpath)
        dirnames.sort()
        if looks_like_bundle_root(here, dirnames):
            bundle_roots[here] = bundle_host(here.name) or _folder_host(here)
        owner = _nearest(here, bundle_roots)
        for name in list(dirnames):
            if (here / name).is_symlink():
                dirnames.remove(name)  # never walked; its target is walked where it lies
                if owner is None or name in MEMBER_FOLDERS:
                    _link(here / name, inside, root_display, True, warn, skip)
        for name in sorted(filenames):
            path = here / name
            try:
                st = os.lstat(path)
            except OSError as exc:
                warn(safe_name(str(path)), f"cannot be read: {safe_name(exc.strerror or str(exc))}")
                continue
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                names_of[key] = names_of.get(key, 0) + 1
            if name.startswith(".") or not _wanted(path, owner, skip):
                continue
            if stat.S_ISLNK(st.st_mode):
                _link(path, inside, root_display, False, warn, skip)
            elif not stat.S_ISREG(st.st_mode):
                warn(safe_name(str(path)), f"{special_kind(st.st_mode)}, not a regular file; not opened")
            elif st.st_nlink > 1:
                deferred.append((path, st, owner))  # judged once every name inside is counted
            else:
                yield _found(path, st, owner, bundle_roots)
    read: set[tuple[int, int]] = set()
    for path, st, owner in deferred:
        key = (st.st_dev, st.st_ino)
        if key in read:
            skip("another name of a file already read")
        elif names_of.get(key, 0) >= st.st_nlink:
            read.add(key)
            yield _found(path, st, owner, bundle_roots)
        else:
            warn(
                safe_name(str(path)),
                f"has {st.st_nlink} hard links and not all of them are inside {root_display}; not read "
                "(another name of it may be a file of this machine)",
            )


def _found(
    path: Path, st: os.stat_result, owner: Path | None, bundle_roots: dict[Path, str | None]
) -> FolderFile:
    return FolderFile(path, st.st_size, owner, bundle_roots[owner] if owner is not None else None)


def _wanted(path: Path, owner: Path | None, skip: Callable[[str], None]) -> bool:
    """Would this folder entry be read? (Links and special files are judged only then,
    so the thousands of irrelevant files of a bundle cost no warning.)"""
    if owner is None:
        return True
    relative = path.relative_to(owner).as_posix()
    if is_bundle_member(relative) or is_archive_name(path.name):
        return True
    skip("bundle member not about vVols")
    return False


def _link(
    path: Path, inside: str, root_display: str, folder: bool, warn: IntakeWarn, skip: Callable[[str], None]
) -> None:
    """A symbolic link found in the walk: skipped when it points inside the folder (its target
    is read where it lies), named in a warning when it points out."""
    target = os.path.realpath(path)
    if target == inside or target.startswith(inside.rstrip(os.sep) + os.sep):
        skip("link to a file inside the folder (read where it lies)")
        return
    try:
        shown = safe_name(os.readlink(path))
    except OSError:
        shown = safe_name(target)
    what = "folder" if folder else "file"
    warn(
        safe_name(str(path)),
        f"symbolic link to {shown}, a {what} outside {root_display}; not followed",
    )


def regular_opener(path: Path, follow: bool) -> Opener:
    """Open ``path`` only if it is a regular file, without blocking on a FIFO and (inside a
    folder) without following a link: checked on the open descriptor, so a file swapped for a
    link or a FIFO after the walk is refused too."""

    def opener() -> BinaryIO:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        if not follow:
            flags |= getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags)
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise OSError(f"{special_kind(mode)}, not a regular file; not opened")
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "rb")

    return opener


def special_kind(mode: int) -> str:
    """What a file that is not a regular file is, in the words of a warning."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file"


def _folder_host(folder: Path) -> str | None:
    """The host an extracted bundle names in its hostname outputs or esx.conf (never read
    through a link out of the bundle)."""
    inside = os.path.realpath(folder) + os.sep
    for candidate in [
        *sorted((folder / "commands").glob("*hostname*.txt")),
        folder / "etc" / "vmware" / "esx.conf",
    ]:
        if not os.path.realpath(candidate).startswith(inside):
            continue  # ``commands`` or ``etc`` is a link out of the bundle: not its host's name
        try:
            with regular_opener(candidate, follow=False)() as stream:
                text = stream.read(HOSTNAME_MEMBER_LIMIT).decode("utf-8", "replace")
        except OSError:
            continue  # missing, a link or a FIFO: never read
        host = host_from_text(text)
        if host:
            return host
    return None


def _nearest(folder: Path, roots: dict[Path, str | None]) -> Path | None:
    """The innermost bundle root ``folder`` lies in, or None."""
    for candidate in (folder, *folder.parents):
        if candidate in roots:
            return candidate
    return None
