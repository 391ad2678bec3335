"""Turn whatever the admin hands over into a stream of :class:`EvidenceFile` objects.

vCenter's ``vc-support`` bundles are read the same way: their ``sps.log`` and ``vpxd.log``
(``var/log/vmware/vmware-sps/``, ``var/log/vmware/vpxd/``, rotated and gzipped copies too).

Accepted: single files (plain or gzip), folders (walked recursively), ESXi support bundles
(``vm-support`` ``.tgz``/``.tar.gz``/``.tar`` files or their extracted folders, several hosts at
once), ``.zip`` archives of any of these, and archives nested inside archives (up to
:attr:`Limits.max_depth` levels).

Why the bundle rules exist: a real vm-support bundle holds thousands of files, almost none of them
about vVols. Inside a bundle only the members that can matter are read (the logs vvold, hostd,
vmkernel and vmkwarning wherever ESXi keeps them, and the ``storage vvol`` command outputs with
their ``json/`` twins); everything the user names directly is sniffed, and an unrecognised file
gets a warning that names it.

The host a bundle belongs to comes from its name (``esx-<host>-YYYY-MM-DD--HH.MM-<pid>``) or, when
renamed, from its contents (``hostname`` command outputs, ``esx.conf``).

Bundles are untrusted (issue #17), so inside a folder the user gave:

* a symbolic link is never followed out of that folder (a bundle unpacked with ``tar x`` may hold
  ``var/run/log/vvold.log -> /etc/passwd``); a link that stays inside is skipped, its target is
  read where it lies;
* a file with several hard links is read only when every one of its names lies inside the folder
  (otherwise one of them may be a file of this machine: skipped, with a warning);
* FIFOs, devices and sockets are never opened (opening a FIFO blocks forever);
* inside archives, symbolic and hard link members are never read, and a link that points out of
  the archive is named in a warning.

Every name shown (citations, warnings) goes through :func:`safe_name`. Nothing here writes:
archives are read in place, never extracted to disk.
"""

from __future__ import annotations

import bz2
import contextlib
import lzma
import os
import posixpath
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from vvolguard.evidence.sniff import office_kind
from vvolguard.evidence.source import (
    GZIP_MAGIC,
    Budget,
    EvidenceFile,
    ExpansionLimit,
    Limits,
    Metered,
    MiB,
    format_size,
    safe_name,
    strip_gz,
)
from vvolguard.records import ReadWarning

#: esx-<host>-2023-06-07--19.51-2831891 (the pid part is optional; .tgz/.tar.gz/.tar stripped).
BUNDLE_NAME = re.compile(
    r"^esx-(?P<host>.+?)-(?P<date>\d{4}-\d{2}-\d{2})--(?P<time>\d{2}\.\d{2})(?:-\d+)?$", re.IGNORECASE
)

#: Members of a support bundle worth reading (matched against the member path, lower-cased).
BUNDLE_MEMBER = re.compile(
    r"""(?x)
    (?:^|/)(?:var/run/log|var/log|scratch/log|var/lib/vmware/osdata[^/]*/log|log)/
        (?:vvold|hostd|vmkernel|vmkwarning)(?:\.log)?(?:\.\d+)?(?:\.gz)?$
    | (?:^|/)commands/[^/]*storage-vvol-[^/]*\.txt$
    | (?:^|/)json/[^/]*storage-vvol-[^/]*\.json$
    | (?:^|/)var/log/vmware/vmware-sps/sps(?:-\d+)?\.log(?:\.\d+)?(?:\.gz)?$
    | (?:^|/)var/log/vmware/vpxd/vpxd(?:-\d+)?\.log(?:\.\d+)?(?:\.gz)?$
    """
)

#: Folders of a bundle that can hold what is read; a link elsewhere in a bundle (``bootbank``,
#: ``productLocker`` point into /vmfs on the host) is skipped without a warning.
_MEMBER_FOLDERS = frozenset(("commands", "json", "var", "etc", "log", "run", "scratch", "vmware"))

#: Members that name the host when the bundle's own name does not.
HOSTNAME_MEMBER = re.compile(r"(?:^|/)commands/[^/]*hostname[^/]*\.txt$|(?:^|/)etc/vmware/esx\.conf$")

ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".zip")
#: Largest archive member read to learn a host name; these files are tiny in real bundles.
HOSTNAME_MEMBER_LIMIT = 256 * 1024
#: Members listed per tar: each costs memory until the archive is closed, and a tar of empty
#: headers compresses 1000:1, so this, not the expansion budget, bounds that memory.
MAX_MEMBERS = 250_000
#: Below this many expanded bytes no ratio is suspicious (a small file of blanks compresses well).
RATIO_FLOOR = 16 * MiB

_BZ2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_ZIP_MAGIC = b"PK\x03\x04"
#: Errors a damaged archive can raise from the standard library's readers.
_ARCHIVE_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    OSError,
    EOFError,
    ValueError,
    UnicodeDecodeError,
    NotImplementedError,
    KeyError,
    RuntimeError,
)

Opener = Callable[[], BinaryIO]


def bundle_host(name: str) -> str | None:
    """The host encoded in a vm-support bundle name, if the name follows ESXi's pattern."""
    base = PurePosixPath(name.rstrip("/")).name
    for suffix in ARCHIVE_SUFFIXES:
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    match = BUNDLE_NAME.match(base)
    return match.group("host") if match else None


#: Words admins put around a host name when they name a loose file ("vvold-grep-esx01.txt",
#: "esx-03_vvold.log", "case4711-esx07-vasaprovider-list.txt"): never a host themselves.
_FILE_NAME_WORDS = frozenset(
    {
        *("vvold", "hostd", "vmkernel", "vmkwarning", "vobd", "sps", "vpxd", "log", "logs"),
        *("grep", "zgrep", "egrep", "tail", "head", "excerpt", "excerpts", "snippet", "output"),
        *("out", "txt", "text", "json", "csv", "esxcli", "storage", "vvol", "list", "case"),
        *("vasaprovider", "vasaproviders", "protocolendpoint", "protocolendpoints", "pe", "pes"),
        *("storagecontainer", "storagecontainers", "container", "containers", "vp", "vps"),
        *("provider", "providers", "tasks", "events", "task", "event", "bundle", "support"),
        *("from", "host", "copy", "paste", "putty", "session", "vmsupport"),
    }
)
_FILE_NAME_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}[.-]){3}\d{1,3}(?![\d])")


def host_in_file_name(name: str) -> str | None:
    """The ESXi host a loose file's own name gives, when it gives one plainly: a piece that holds
    ``esx`` (``vvold-grep-esx01.txt`` -> ``esx01``, ``prd-esx12_vvold.log`` -> ``prd-esx12``) or an
    IPv4 address. Excerpts from several hosts are often sent side by side; without this they
    would all be one unnamed host. Kept conservative: any other name gives no host."""
    stem = PurePosixPath(name).name
    while True:
        head, dot, ext = stem.rpartition(".")
        if not dot or not (ext.isdigit() or ext.lower() in {"gz", "log", "txt", "out", "json", "csv", "tgz"}):
            break
        stem = head
    ip = _FILE_NAME_IPV4.search(stem)
    if ip:
        return ip.group(0).replace("-", ".")
    for piece in re.split(r"[_\s.]+", stem):
        words = [w for w in piece.split("-") if w]
        while words and (words[0].lower() in _FILE_NAME_WORDS or words[0].isdigit()):
            words.pop(0)
        while words and (
            words[-1].lower() in _FILE_NAME_WORDS
            or (words[-1].isdigit() and any(c.isdigit() for c in "".join(words[:-1])))
        ):
            words.pop()  # trailing words and a date: "esx-03-2026-03-14" -> "esx-03"
        candidate = "-".join(words)
        if (
            "esx" in candidate.lower()
            and candidate.lower() not in {"esx", "esxi"}
            and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", candidate)
        ):
            return candidate
    return None


def host_from_text(text: str) -> str | None:
    """Host name from ``esxcli system hostname get`` output, ``hostname`` output or esx.conf."""
    fqdn = re.search(r"Fully Qualified Domain Name:[ \t]*(\S+)", text)
    if fqdn:
        return fqdn.group(1)
    short = re.search(r"Host Name:[ \t]*(\S+)", text)
    if short:
        return short.group(1)
    conf = re.search(r'^/adv/Misc/HostName[ \t]*=[ \t]*"([^"\n]+)"', text, re.MULTILINE)
    if conf:
        return conf.group(1)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) == 1 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}", lines[0]):
        return lines[0]
    return None


def is_bundle_member(path: str) -> bool:
    return bool(BUNDLE_MEMBER.search(path.lower()))


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
                opener = _regular_opener(path, follow=True)
                yield from self._file(opener, display, path.name, None, self._budget(display), 0, st.st_size)
            else:
                self._warn(display, f"{_special_kind(st.st_mode)}, not a regular file or folder; not opened")

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
        inside = os.path.realpath(root)
        bundle_roots: dict[Path, str | None] = {}
        #: inode -> names seen inside the folder, for files with several hard links
        names_of: dict[tuple[int, int], int] = {}
        deferred: list[tuple[Path, os.stat_result, Path | None]] = []
        for dirpath, dirnames, filenames in os.walk(
            root, onerror=lambda e: self._warn(safe_name(str(e.filename)), safe_name(str(e)))
        ):
            here = Path(dirpath)
            dirnames.sort()
            if _looks_like_bundle_root(here, dirnames):
                bundle_roots[here] = bundle_host(here.name) or _folder_host(here)
            owner = _nearest(here, bundle_roots)
            for name in list(dirnames):
                if (here / name).is_symlink():
                    dirnames.remove(name)  # never walked; its target is walked where it lies
                    if owner is None or name in _MEMBER_FOLDERS:
                        self._link(here / name, inside, root_display, folder=True)
            for name in sorted(filenames):
                path = here / name
                try:
                    st = os.lstat(path)
                except OSError as exc:
                    self._warn(safe_name(str(path)), f"cannot be read: {safe_name(exc.strerror or str(exc))}")
                    continue
                if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    names_of[key] = names_of.get(key, 0) + 1
                if name.startswith(".") or not self._wanted(path, owner):
                    continue
                if stat.S_ISLNK(st.st_mode):
                    self._link(path, inside, root_display, folder=False)
                elif not stat.S_ISREG(st.st_mode):
                    self._warn(
                        safe_name(str(path)), f"{_special_kind(st.st_mode)}, not a regular file; not opened"
                    )
                elif st.st_nlink > 1:
                    deferred.append((path, st, owner))  # judged once every name inside is counted
                else:
                    yield from self._folder_file(path, st, owner, bundle_roots)
        read: set[tuple[int, int]] = set()
        for path, st, owner in deferred:
            key = (st.st_dev, st.st_ino)
            if key in read:
                self._skip("another name of a file already read")
            elif names_of.get(key, 0) >= st.st_nlink:
                read.add(key)
                yield from self._folder_file(path, st, owner, bundle_roots)
            else:
                self._warn(
                    safe_name(str(path)),
                    f"has {st.st_nlink} hard links and not all of them are inside {root_display}; not read "
                    "(another name of it may be a file of this machine)",
                )

    def _wanted(self, path: Path, owner: Path | None) -> bool:
        """Would this folder entry be read? (Links and special files are judged only then,
        so the thousands of irrelevant files of a bundle cost no warning.)"""
        if owner is None:
            return True
        relative = path.relative_to(owner).as_posix()
        if is_bundle_member(relative) or _is_archive_name(path.name):
            return True
        self._skip("bundle member not about vVols")
        return False

    def _link(self, path: Path, inside: str, root_display: str, folder: bool) -> None:
        target = os.path.realpath(path)
        if target == inside or target.startswith(inside.rstrip(os.sep) + os.sep):
            self._skip("link to a file inside the folder (read where it lies)")
            return
        try:
            shown = safe_name(os.readlink(path))
        except OSError:
            shown = safe_name(target)
        what = "folder" if folder else "file"
        self._warn(
            safe_name(str(path)),
            f"symbolic link to {shown}, a {what} outside {root_display}; not followed",
        )

    def _folder_file(
        self, path: Path, st: os.stat_result, owner: Path | None, bundle_roots: dict[Path, str | None]
    ) -> Iterator[EvidenceFile]:
        display = safe_name(str(path))
        opener = _regular_opener(path, follow=False)
        budget = self._budget(display)
        if owner is None:
            yield from self._file(opener, display, path.name, None, budget, 0, st.st_size)
            return
        host = bundle_roots[owner]
        relative = path.relative_to(owner).as_posix()
        if is_bundle_member(relative):
            if self._first_copy(host, relative, st.st_size, display, safe_name(str(owner))):
                yield _evidence(display, path.name, opener, host, st.st_size, budget)
        else:
            yield from self._file(opener, display, path.name, host, budget, 0, st.st_size)

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
        try:
            probe = opener()
        except ExpansionLimit:
            return  # the budget's own warning names the input
        except _ARCHIVE_ERRORS as exc:
            self._warn(display, f"cannot be read: {_reason(exc)}")
            return
        try:
            head = probe.read(512)
        except ExpansionLimit:
            return
        except _ARCHIVE_ERRORS:
            head = b""  # damaged from its first bytes: reading it names the damage
        finally:
            with contextlib.suppress(Exception):
                probe.close()
        kind = _archive_kind(opener, head, name)
        if kind is not None:
            if depth >= self.limits.max_depth:
                self._warn(
                    display,
                    f"archive nested more than {self.limits.max_depth} levels deep (--max-depth); not opened",
                )
                return
            opened = self._zip if kind == "zip" else self._tar
            yield from opened(opener, display, host, budget, depth + 1)
            return
        yield _evidence(display, name, opener, host or host_in_file_name(name), size, budget)

    def _tar(
        self, opener: Opener, display: str, host: str | None, budget: Budget, depth: int
    ) -> Iterator[EvidenceFile]:
        try:
            raw = opener()
        except _ARCHIVE_ERRORS as exc:
            self._warn(display, f"cannot be read: {_reason(exc)}")
            return
        self._archives.append(raw)
        stream = _decompressing(raw, budget)
        if stream is not raw:
            self._archives.append(stream)
        try:
            archive = tarfile.open(fileobj=stream, mode="r:")  # noqa: SIM115 (closed by Collector.close)
        except ExpansionLimit:
            return
        except _ARCHIVE_ERRORS as exc:
            self._warn(display, f"not a readable tar archive ({_reason(exc)}); skipped")
            return
        self._archives.append(archive)
        members: list[tarfile.TarInfo] = []
        try:
            for member in archive:
                members.append(member)
                if len(members) >= MAX_MEMBERS:
                    self._warn(
                        display,
                        f"has more than {MAX_MEMBERS} members (real support bundles have tens of "
                        "thousands); the rest were not listed",
                        caveat=True,
                    )
                    break
        except ExpansionLimit:
            self._warn(
                display, f"used the {len(members)} members listed before the expansion limit", caveat=True
            )
        except _ARCHIVE_ERRORS as exc:
            # A truncated or damaged bundle: tarfile stops at the damage; keep what came before.
            self._warn(
                display,
                f"archive is damaged ({_reason(exc) or 'truncated'}); used the {len(members)} "
                "members before the damage",
                caveat=True,
            )
        else:
            if len(members) < MAX_MEMBERS:
                self._check_end(display, archive, stream, len(members))
        if isinstance(stream, Metered):
            self._check_ratio(display, raw, stream.high)
        yield from self._members(
            [_TarEntry(archive, m) for m in members], display, _archive_host(display) or host, budget, depth
        )

    def _zip(
        self, opener: Opener, display: str, host: str | None, budget: Budget, depth: int
    ) -> Iterator[EvidenceFile]:
        try:
            raw = opener()
        except _ARCHIVE_ERRORS as exc:
            self._warn(display, f"cannot be read: {_reason(exc)}")
            return
        self._archives.append(raw)
        try:
            archive = zipfile.ZipFile(raw)
            infos = archive.infolist()
        except _ARCHIVE_ERRORS as exc:
            self._warn(display, f"not a readable zip archive ({_reason(exc)}); skipped")
            return
        self._archives.append(archive)
        office = office_kind([i.filename for i in infos])
        if office is not None:
            self._warn(display, f"{office}, not a log or export; skipped")
            return
        entries = []
        for info in infos:
            if info.is_dir():
                continue
            entries.append(_ZipEntry(archive, info, budget))
            if info.file_size >= RATIO_FLOOR and info.file_size > self.limits.max_ratio * max(
                1, info.compress_size
            ):
                self._warn(
                    f"{display}!{safe_name(info.filename)}",
                    f"expands more than {self.limits.max_ratio}:1 ({format_size(info.compress_size)} to "
                    f"{format_size(info.file_size)}): a decompression bomb or a run of one repeated byte; "
                    "read within the --max-expanded limit",
                    caveat=True,
                )
        yield from self._members(entries, display, _archive_host(display) or host, budget, depth)

    def _members(
        self, entries: Sequence[_Entry], display: str, host: str | None, budget: Budget, depth: int
    ) -> Iterator[EvidenceFile]:
        """The members of one archive (tar or zip, the same rules): bundle roots and their hosts,
        bundle members deduplicated, links never followed, nested archives opened."""
        names = {e.name.rstrip("/") for e in entries}
        regular = [e for e in entries if e.is_file]
        roots = _bundle_roots_in(e.name for e in regular)
        hosts: dict[str | None, str | None] = {
            root: bundle_host(root) or (host if root == "" else None) for root in roots
        }
        for entry in regular:
            if HOSTNAME_MEMBER.search(entry.name) and entry.size <= HOSTNAME_MEMBER_LIMIT:
                root = _root_of(entry.name, roots)
                if hosts.get(root) is None:
                    text = entry.read_head(HOSTNAME_MEMBER_LIMIT)
                    if text:
                        hosts[root] = host_from_text(text.decode("utf-8", "replace"))
        for entry in entries:
            root = _root_of(entry.name, roots)
            member_host = hosts.get(root) or host
            member_display = f"{display}!{safe_name(entry.name)}"
            base = PurePosixPath(entry.name).name
            archive_name = _is_archive_name(base)
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

    def _archive_link(self, entry: _Entry, display: str, names: set[str], root: str | None) -> None:
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

    def _check_end(self, display: str, archive: tarfile.TarFile, stream: BinaryIO, count: int) -> None:
        """tarfile ends its listing quietly at a damaged member header; say so.

        A sound archive ends with a zero block where the listing stopped. The block is taken from
        what the listing last read (seeking back in a ``.tgz`` would inflate it all again)."""
        if isinstance(stream, Metered):
            pos, block = stream.last_read
            if pos != archive.offset:
                return
        else:
            try:
                stream.seek(archive.offset)
                block = stream.read(512)
            except Exception:
                return
        if not block:
            message = "ends without the end-of-archive marker (cut off?)"
        elif block.strip(b"\0"):
            message = f"has a damaged member header at byte {archive.offset}"
        else:
            return
        self._warn(display, f"archive {message}; used the {count} members before it", caveat=True)

    def _check_ratio(self, display: str, raw: BinaryIO, expanded: int) -> None:
        try:
            compressed = raw.tell()
        except Exception:
            return
        if expanded >= RATIO_FLOOR and expanded > self.limits.max_ratio * max(1, compressed):
            self._warn(
                display,
                f"expands more than {self.limits.max_ratio}:1 ({format_size(compressed)} to at least "
                f"{format_size(expanded)}): a decompression bomb or a run of one repeated byte",
                caveat=True,
            )


def collect(paths: Iterable[str | os.PathLike[str]], limits: Limits | None = None) -> Iterator[EvidenceFile]:
    """Every evidence file under ``paths``; input problems are dropped (use Collector to see them)."""
    with Collector(paths, limits=limits or Limits()) as collector:
        yield from collector


# -- archive entries -------------------------------------------------------------------------


class _Entry:
    """One member of a tar or zip, as the shared member rules need it."""

    name: str
    size: int
    is_file: bool
    link: str | None

    def opener(self) -> BinaryIO:
        raise NotImplementedError

    def read_head(self, limit: int) -> bytes | None:
        try:
            with self.opener() as stream:
                return stream.read(limit)
        except _ARCHIVE_ERRORS:
            return None


class _TarEntry(_Entry):
    def __init__(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.archive, self.member = archive, member
        self.name, self.size = member.name, member.size
        self.is_file = member.isfile()
        self.link = member.linkname if (member.issym() or member.islnk()) else None

    def opener(self) -> BinaryIO:
        stream = self.archive.extractfile(self.member)
        if stream is None:
            raise OSError("member has no data")
        return stream  # type: ignore[return-value]


class _ZipEntry(_Entry):
    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget) -> None:
        self.archive, self.info, self.budget = archive, info, budget
        self.name, self.size = info.filename, info.file_size
        is_link = stat.S_ISLNK(info.external_attr >> 16) if info.create_system == 3 else False
        self.is_file = not is_link
        self.link = None
        if is_link:  # the member's own bytes are the target: read them, never what they name
            target = self.read_head(4096) if info.file_size <= 4096 else None
            self.link = os.fsdecode(target) if target else "(an unreadable target)"

    def opener(self) -> BinaryIO:
        stream = self.archive.open(self.info)
        if self.info.compress_type == zipfile.ZIP_STORED:
            return stream  # type: ignore[return-value]
        return Metered(stream, self.budget, self.info.file_size)  # type: ignore[return-value,arg-type]


# -- module helpers --------------------------------------------------------------------------


def _evidence(
    display: str, name: str, opener: Opener, host: str | None, size: int | None, budget: Budget
) -> EvidenceFile:
    """One evidence file; its host comes from names and contents the sender controls, so it is
    made as safe to show as the display name."""
    return EvidenceFile(
        display, strip_gz(name), opener, safe_name(host) if host else None, size, budget=budget
    )


def _regular_opener(path: Path, follow: bool) -> Opener:
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
                raise OSError(f"{_special_kind(mode)}, not a regular file; not opened")
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "rb")

    return opener


def _special_kind(mode: int) -> str:
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


def _decompressing(raw: BinaryIO, budget: Budget) -> BinaryIO:
    """The tar stream inside ``raw``: decompressed (gzip, bzip2, xz) and metered, or ``raw``."""
    head = _peek(raw, 6)
    if head[:2] == GZIP_MAGIC:
        import gzip

        inner: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    elif head[:3] == _BZ2_MAGIC:
        inner = bz2.BZ2File(raw)  # type: ignore[assignment]
    elif head[:6] == _XZ_MAGIC:
        inner = lzma.LZMAFile(raw)  # type: ignore[assignment]  # noqa: SIM115 (closed with the archive)
    else:
        return raw
    return Metered(inner, budget)  # type: ignore[return-value]


def _peek(raw: BinaryIO, size: int) -> bytes:
    try:
        pos = raw.tell()
        data = raw.read(size)
        raw.seek(pos)
        return data
    except Exception:
        return b""


def _archive_kind(opener: Opener, head: bytes, name: str) -> str | None:
    """``"zip"``, ``"tar"`` or None, by content (a gzip, bzip2 or xz is a tar if what it holds is)."""
    if head[:4] == _ZIP_MAGIC:
        return "zip"
    if _is_ustar(head):
        return "tar"
    if head[:2] == GZIP_MAGIC or head[:3] == _BZ2_MAGIC or head[:6] == _XZ_MAGIC:
        try:
            with opener() as raw:
                inner = _decompressing(raw, Budget(Limits(), ""))
                first = inner.read(512)
        except Exception:
            first = b""
        if _is_ustar(first):
            return "tar"
        if _is_archive_name(name):
            return "tar"  # a damaged .tgz: let the tar reader name the damage
    return None


def _is_ustar(block: bytes) -> bool:
    return len(block) >= 262 and block[257:262] == b"ustar"


def _reason(exc: BaseException) -> str:
    text = safe_name(str(exc))
    if len(text) > 200:
        text = text[:200] + "…"
    return text or type(exc).__name__


def _archive_host(display: str) -> str | None:
    return bundle_host(display.rsplit("!", 1)[-1].rsplit("/", 1)[-1])


def _is_archive_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith((".tgz", ".tar.gz", ".tar", ".zip", ".tar.bz2", ".tar.xz", ".tbz", ".txz"))


def _looks_like_bundle_root(folder: Path, subdirs: list[str]) -> bool:
    if bundle_host(folder.name):
        return True
    names = set(subdirs)
    return "commands" in names and ("var" in names or "json" in names)


def _folder_host(folder: Path) -> str | None:
    inside = os.path.realpath(folder) + os.sep
    for candidate in [
        *sorted((folder / "commands").glob("*hostname*.txt")),
        folder / "etc" / "vmware" / "esx.conf",
    ]:
        if not os.path.realpath(candidate).startswith(inside):
            continue  # ``commands`` or ``etc`` is a link out of the bundle: not its host's name
        try:
            with _regular_opener(candidate, follow=False)() as stream:
                text = stream.read(HOSTNAME_MEMBER_LIMIT).decode("utf-8", "replace")
        except OSError:
            continue  # missing, a link or a FIFO: never read
        host = host_from_text(text)
        if host:
            return host
    return None


def _nearest(folder: Path, roots: dict[Path, str | None]) -> Path | None:
    for candidate in (folder, *folder.parents):
        if candidate in roots:
            return candidate
    return None


def _bundle_roots_in(names: Iterable[str]) -> list[str]:
    """Archive prefixes that are vm-support bundle roots ("" when the archive itself is one)."""
    roots: set[str] = set()
    for name in names:
        parts = PurePosixPath(name).parts
        for i, part in enumerate(parts[:-1]):
            if part in ("commands", "var", "json") and (
                i + 1 < len(parts) and (part != "var" or parts[i + 1] in ("run", "log"))
            ):
                roots.add("/".join(parts[:i]))
                break
    return sorted(roots, key=len, reverse=True)


def _root_of(name: str, roots: list[str]) -> str | None:
    """The bundle root a member lies under (longest first), or None for loose members."""
    for root in roots:
        if root == "" or name.startswith(root + "/"):
            return root
    return None
