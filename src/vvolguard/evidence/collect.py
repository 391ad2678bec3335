"""Turn whatever the admin hands over into a stream of :class:`EvidenceFile` objects.

Accepted: single files (plain or gzip), folders (walked recursively), ESXi support bundles
(``vm-support`` ``.tgz``/``.tar.gz``/``.tar`` files or their extracted folders, several hosts at
once), ``.zip`` archives of any of these, and one level of archives nested inside archives.

Why the bundle rules exist: a real vm-support bundle holds thousands of files, almost none of them
about vVols. Inside a bundle only the members that can matter are read (the logs vvold, hostd,
vmkernel and vmkwarning wherever ESXi keeps them, and the ``storage vvol`` command outputs with
their ``json/`` twins); everything the user names directly is sniffed, and an unrecognised file
gets a warning that names it.

The host a bundle belongs to comes from its name (``esx-<host>-YYYY-MM-DD--HH.MM-<pid>``) or, when
renamed, from its contents (``hostname`` command outputs, ``esx.conf``).

Nothing here writes: archives are read in place, never extracted to disk.
"""

from __future__ import annotations

import os
import re
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from vvolguard.evidence.source import GZIP_MAGIC, EvidenceFile, strip_gz
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
    """
)

#: Members that name the host when the bundle's own name does not.
HOSTNAME_MEMBER = re.compile(r"(?:^|/)commands/[^/]*hostname[^/]*\.txt$|(?:^|/)etc/vmware/esx\.conf$")

ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".zip")
#: Largest archive member read to learn a host name; these files are tiny in real bundles.
HOSTNAME_MEMBER_LIMIT = 256 * 1024


def bundle_host(name: str) -> str | None:
    """The host encoded in a vm-support bundle name, if the name follows ESXi's pattern."""
    base = PurePosixPath(name.rstrip("/")).name
    for suffix in ARCHIVE_SUFFIXES:
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    match = BUNDLE_NAME.match(base)
    return match.group("host") if match else None


def host_from_text(text: str) -> str | None:
    """Host name from ``esxcli system hostname get`` output, ``hostname`` output or esx.conf."""
    fqdn = re.search(r"Fully Qualified Domain Name:\s*(\S+)", text)
    if fqdn:
        return fqdn.group(1)
    short = re.search(r"Host Name:\s*(\S+)", text)
    if short:
        return short.group(1)
    conf = re.search(r'^/adv/Misc/HostName\s*=\s*"([^"]+)"', text, re.MULTILINE)
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
    caller that consumes each file fully reads every archive member in order, once.
    """

    paths: Iterable[str | os.PathLike[str]]
    warnings: list[ReadWarning] = field(default_factory=list)
    #: how many files were looked at, per reason for not reading them (for the summary)
    skipped: dict[str, int] = field(default_factory=dict)
    #: archives stay open so an EvidenceFile can be re-read after iteration moved on (the
    #: escalation package reads excerpts again); ``close`` releases them.
    _archives: list[tarfile.TarFile | zipfile.ZipFile] = field(default_factory=list, repr=False)
    #: (host, path inside the bundle, size) -> where it was first read. The same bundle given as
    #: a .tgz and as its extracted folder (common: the simulator writes both, admins keep both)
    #: must not count every migration and every busy fault twice.
    _seen_members: dict[tuple[str, str, int], str] = field(default_factory=dict, repr=False)
    _duplicate_bundles: set[str] = field(default_factory=set, repr=False)

    def close(self) -> None:
        for archive in self._archives:
            archive.close()
        self._archives.clear()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[EvidenceFile]:
        for raw in self.paths:
            path = Path(raw)
            if not path.exists():
                self._warn(str(raw), "no such file or folder")
                continue
            if path.is_dir():
                yield from self._folder(path)
            elif path.is_file():
                yield from self._file(path, display=str(raw))
            else:
                self._warn(str(raw), "not a regular file or folder; skipped")

    # -- helpers ---------------------------------------------------------------------------

    def _warn(self, display: str, message: str, line: int | None = None) -> None:
        self.warnings.append(ReadWarning(display, line, message))

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

    def _folder(self, root: Path) -> Iterator[EvidenceFile]:
        bundle_roots: dict[Path, str | None] = {}
        for dirpath, dirnames, filenames in os.walk(
            root, onerror=lambda e: self._warn(str(e.filename), str(e))
        ):
            here = Path(dirpath)
            dirnames.sort()
            if _looks_like_bundle_root(here, dirnames):
                bundle_roots[here] = bundle_host(here.name) or _folder_host(here)
            owner = _nearest(here, bundle_roots)
            for name in sorted(filenames):
                path = here / name
                if name.startswith(".") or not path.is_file():
                    continue
                if owner is not None:
                    relative = path.relative_to(owner).as_posix()
                    if is_bundle_member(relative):
                        if self._first_copy(
                            bundle_roots[owner], relative, path.stat().st_size, str(path), str(owner)
                        ):
                            yield self._plain(path, str(path), host=bundle_roots[owner])
                    elif _is_archive_name(name):
                        yield from self._file(path, display=str(path), host=bundle_roots[owner])
                    else:
                        self._skip("bundle member not about vVols")
                    continue
                yield from self._file(path, display=str(path))

    def _file(self, path: Path, display: str, host: str | None = None) -> Iterator[EvidenceFile]:
        try:
            with path.open("rb") as probe:
                head = probe.read(512)
        except OSError as exc:
            self._warn(display, f"cannot be read: {exc.strerror or exc}")
            return
        if head[:4] == b"PK\x03\x04" and zipfile.is_zipfile(path):
            yield from self._zip(path, display, host)
            return
        if _is_tar(path, head):
            yield from self._tar(path, display, host)
            return
        yield self._plain(path, display, host=host)

    def _plain(self, path: Path, display: str, host: str | None) -> EvidenceFile:
        size = path.stat().st_size
        return EvidenceFile(
            display=display,
            name=strip_gz(path.name),
            opener=lambda: path.open("rb"),
            host=host,
            size=size,
        )

    def _tar(self, path: Path, display: str, host: str | None) -> Iterator[EvidenceFile]:
        try:
            archive = tarfile.open(path, "r:*")  # noqa: SIM115 (closed by Collector.close)
        except (tarfile.TarError, OSError, EOFError) as exc:
            self._warn(display, f"not a readable tar archive ({exc}); skipped")
            return
        self._archives.append(archive)
        yield from self._tar_members(archive, display, host or bundle_host(path.name))

    def _tar_members(
        self, archive: tarfile.TarFile, display: str, host: str | None
    ) -> Iterator[EvidenceFile]:
        try:
            members = [m for m in archive.getmembers() if m.isfile()]
        except (tarfile.TarError, OSError, EOFError) as exc:
            # A truncated bundle: tarfile stops at the damage; keep what was listed before it.
            members = [m for m in archive.members if m.isfile()]
            self._warn(
                display,
                f"archive is damaged ({exc or 'truncated'}); used the {len(members)} files before the damage",
            )
        roots = _bundle_roots_in(m.name for m in members)
        hosts: dict[str | None, str | None] = {
            root: bundle_host(root) or (host if root == "" else None) for root in roots
        }
        for member in members:
            if HOSTNAME_MEMBER.search(member.name) and member.size <= HOSTNAME_MEMBER_LIMIT:
                root = _root_of(member.name, roots)
                if hosts.get(root) is None:
                    text = _read_member(archive, member)
                    if text:
                        hosts[root] = host_from_text(text)
        for member in members:
            root = _root_of(member.name, roots)
            member_host = hosts.get(root) or host
            member_display = f"{display}!{member.name}"
            base = PurePosixPath(member.name).name
            if _is_archive_name(base):
                yield from self._nested(archive, member, member_display, member_host)
                continue
            if root is not None and not is_bundle_member(member.name):
                self._skip("bundle member not about vVols")
                continue
            relative = member.name[len(root) + 1 :] if root else member.name
            if root is not None and not self._first_copy(
                member_host, relative, member.size, member_display, display
            ):
                continue
            yield EvidenceFile(
                display=member_display,
                name=strip_gz(base),
                opener=_tar_opener(archive, member),
                host=member_host,
                size=member.size,
            )

    def _nested(
        self, archive: tarfile.TarFile, member: tarfile.TarInfo, display: str, host: str | None
    ) -> Iterator[EvidenceFile]:
        stream = archive.extractfile(member)
        if stream is None:
            return
        try:
            inner = tarfile.open(fileobj=stream, mode="r:*")  # noqa: SIM115 (closed by Collector.close)
        except (tarfile.TarError, OSError, EOFError) as exc:
            self._warn(display, f"nested archive is not readable ({exc}); skipped")
            return
        self._archives.append(inner)
        yield from self._tar_members(inner, display, bundle_host(member.name) or host)

    def _zip(self, path: Path, display: str, host: str | None) -> Iterator[EvidenceFile]:
        try:
            archive = zipfile.ZipFile(path)
            infos = [i for i in archive.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError) as exc:
            self._warn(display, f"not a readable zip archive ({exc}); skipped")
            return
        self._archives.append(archive)
        roots = _bundle_roots_in(i.filename for i in infos)
        for info in infos:
            root = _root_of(info.filename, roots)
            member_host = bundle_host(root) if root else host
            member_display = f"{display}!{info.filename}"
            base = PurePosixPath(info.filename).name
            if root is not None and not is_bundle_member(info.filename):
                self._skip("bundle member not about vVols")
                continue
            if _is_archive_name(base):
                self._warn(member_display, "archives inside zip files are not opened; extract it first")
                continue
            yield EvidenceFile(
                display=member_display,
                name=strip_gz(base),
                opener=lambda info=info: archive.open(info),  # type: ignore[misc]
                host=member_host or host,
                size=info.file_size,
            )


def collect(paths: Iterable[str | os.PathLike[str]]) -> Iterator[EvidenceFile]:
    """Every evidence file under ``paths``; input problems are dropped (use Collector to see them)."""
    yield from Collector(paths)


# -- module helpers --------------------------------------------------------------------------


def _tar_opener(archive: tarfile.TarFile, member: tarfile.TarInfo):  # type: ignore[no-untyped-def]
    def opener() -> BinaryIO:
        stream = archive.extractfile(member)
        if stream is None:
            raise OSError("member has no data")
        return stream  # type: ignore[return-value]

    return opener


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> str | None:
    try:
        stream = archive.extractfile(member)
        if stream is None:
            return None
        return stream.read(HOSTNAME_MEMBER_LIMIT).decode("utf-8", "replace")
    except (tarfile.TarError, OSError, EOFError):
        return None


def _is_archive_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith((".tgz", ".tar.gz", ".tar"))


def _is_tar(path: Path, head: bytes) -> bool:
    """Tar by content: plain ustar magic, or a gzip whose first member is a tar."""
    if len(head) >= 262 and head[257:262] == b"ustar":
        return True
    if head[:2] == GZIP_MAGIC:
        import gzip

        try:
            with gzip.open(path, "rb") as stream:
                inner = stream.read(512)
        except (OSError, EOFError):
            return path.name.lower().endswith((".tgz", ".tar.gz"))
        return len(inner) >= 262 and inner[257:262] == b"ustar"
    return False


def _looks_like_bundle_root(folder: Path, subdirs: list[str]) -> bool:
    if bundle_host(folder.name):
        return True
    names = set(subdirs)
    return "commands" in names and ("var" in names or "json" in names)


def _folder_host(folder: Path) -> str | None:
    commands = folder / "commands"
    if commands.is_dir():
        for candidate in sorted(commands.glob("*hostname*.txt")):
            try:
                text = candidate.read_text("utf-8", "replace")[:HOSTNAME_MEMBER_LIMIT]
            except OSError:
                continue
            host = host_from_text(text)
            if host:
                return host
    conf = folder / "etc" / "vmware" / "esx.conf"
    if conf.is_file():
        try:
            return host_from_text(conf.read_text("utf-8", "replace")[:HOSTNAME_MEMBER_LIMIT])
        except OSError:
            return None
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
