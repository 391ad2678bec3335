"""Archives as the intake reads them: tar (plain, gzip, bzip2, xz) and zip, listed, never extracted.

Why a module of its own: what an archive holds is untrusted (issue #17). A ``.tgz`` of empty
headers compresses 1000:1, a zip member can claim any size, a link member can name any file of
this machine, and a damaged bundle ends in the middle of a member. This module opens an archive
read-only, in place, and lists its members as :class:`ArchiveEntry` objects: a member's data is
read only when the caller opens it, charged to the input's expansion budget
(:class:`~vvolguard.evidence.source.Budget`). What it finds wrong (damage, a cut-off end, too many
members, a suspicious expansion ratio) it says in a warning naming the archive. Which members are
then read is the caller's business (:mod:`vvolguard.evidence.collect`).
"""

from __future__ import annotations

import bz2
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from typing import BinaryIO, Protocol, TypeVar

from vvolguard.evidence.sniff import office_kind
from vvolguard.evidence.source import (
    GZIP_MAGIC,
    Budget,
    ExpansionLimit,
    Limits,
    Metered,
    MiB,
    format_size,
    safe_name,
)

#: Members listed per tar: each costs memory until the archive is closed, and a tar of empty
#: headers compresses 1000:1, so this, not the expansion budget, bounds that memory.
MAX_MEMBERS = 250_000
#: Below this many expanded bytes no ratio is suspicious (a small file of blanks compresses well).
RATIO_FLOOR = 16 * MiB

_BZ2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_ZIP_MAGIC = b"PK\x03\x04"
#: Errors a damaged archive can raise from the standard library's readers.
ARCHIVE_ERRORS = (
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
_Archive = TypeVar("_Archive")


class IntakeWarn(Protocol):
    """How the intake records a problem with an input: its display name, what is wrong, and
    (``caveat=True``) that the input was used in part."""

    def __call__(
        self, display: str, message: str, line: int | None = None, *, caveat: bool = False
    ) -> None: ...


def open_input(opener: Opener, display: str, warn: IntakeWarn) -> BinaryIO | None:
    """``opener()``, or None with a warning naming the input when it cannot be opened (silently
    when the input's expansion budget is spent: the budget's own warning names it)."""
    try:
        return opener()
    except ExpansionLimit:
        return None
    except ARCHIVE_ERRORS as exc:
        warn(display, f"cannot be read: {reason(exc)}")
        return None


def _open_listing(
    display: str, kind: str, warn: IntakeWarn, open_archive: Callable[[], _Archive]
) -> _Archive | None:
    """The archive object of a tar or zip, or None with a warning that it is not readable."""
    try:
        return open_archive()
    except ExpansionLimit:
        return None
    except ARCHIVE_ERRORS as exc:
        warn(display, f"not a readable {kind} archive ({reason(exc)}); skipped")
        return None


def tar_entries(
    opener: Opener,
    display: str,
    budget: Budget,
    limits: Limits,
    warn: IntakeWarn,
    keep: Callable[[object], None],
) -> list[ArchiveEntry]:
    """The members of a tar (compressed or not), up to :data:`MAX_MEMBERS` and up to any damage.

    Every handle opened is passed to ``keep``: it must stay open while members are read, and
    the caller closes it."""
    raw = open_input(opener, display, warn)
    if raw is None:
        return []
    keep(raw)
    stream = decompressing(raw, budget)
    if stream is not raw:
        keep(stream)
    archive = _open_listing(
        display,
        "tar",
        warn,
        lambda: tarfile.open(fileobj=stream, mode="r:"),  # noqa: SIM115 (kept, closed by the caller)
    )
    if archive is None:
        return []
    keep(archive)
    members: list[tarfile.TarInfo] = []
    try:
        for member in archive:
            members.append(member)
            if len(members) >= MAX_MEMBERS:
                warn(
                    display,
                    f"has more than {MAX_MEMBERS} members (real support bundles have tens of "
                    "thousands); the rest were not listed",
                    caveat=True,
                )
                break
    except ExpansionLimit:
        warn(display, f"used the {len(members)} members listed before the expansion limit", caveat=True)
    except ARCHIVE_ERRORS as exc:
        # A truncated or damaged bundle: tarfile stops at the damage; keep what came before.
        warn(
            display,
            f"archive is damaged ({reason(exc) or 'truncated'}); used the {len(members)} "
            "members before the damage",
            caveat=True,
        )
    else:
        if len(members) < MAX_MEMBERS:
            _check_end(display, archive, stream, len(members), warn)
    if isinstance(stream, Metered):
        _check_ratio(display, raw, stream.high, limits, warn)
    return [TarEntry(archive, m) for m in members]


def zip_entries(
    opener: Opener,
    display: str,
    budget: Budget,
    limits: Limits,
    warn: IntakeWarn,
    keep: Callable[[object], None],
) -> list[ArchiveEntry]:
    """The members of a zip, each with a warning when it claims a suspicious expansion ratio.

    Handles are passed to ``keep`` as in :func:`tar_entries`. An Office document (a zip too) is
    named as what it is and not listed."""
    raw = open_input(opener, display, warn)
    if raw is None:
        return []
    keep(raw)
    archive = _open_listing(display, "zip", warn, lambda: zipfile.ZipFile(raw))
    if archive is None:
        return []
    keep(archive)
    infos = archive.infolist()
    office = office_kind([i.filename for i in infos])
    if office is not None:
        warn(display, f"{office}, not a log or export; skipped")
        return []
    entries: list[ArchiveEntry] = []
    for info in infos:
        if info.is_dir():
            continue
        entries.append(ZipEntry(archive, info, budget))
        if info.file_size >= RATIO_FLOOR and info.file_size > limits.max_ratio * max(1, info.compress_size):
            warn(
                f"{display}!{safe_name(info.filename)}",
                f"expands more than {limits.max_ratio}:1 ({format_size(info.compress_size)} to "
                f"{format_size(info.file_size)}): a decompression bomb or a run of one repeated byte; "
                "read within the --max-expanded limit",
                caveat=True,
            )
    return entries


def _check_end(
    display: str, archive: tarfile.TarFile, stream: BinaryIO, count: int, warn: IntakeWarn
) -> None:
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
    warn(display, f"archive {message}; used the {count} members before it", caveat=True)


def _check_ratio(display: str, raw: BinaryIO, expanded: int, limits: Limits, warn: IntakeWarn) -> None:
    """Warn when a compressed tar expanded suspiciously far (``raw`` is where its compressed
    reading stopped, ``expanded`` how far the decompressed stream got)."""
    try:
        compressed = raw.tell()
    except Exception:
        return
    if expanded >= RATIO_FLOOR and expanded > limits.max_ratio * max(1, compressed):
        warn(
            display,
            f"expands more than {limits.max_ratio}:1 ({format_size(compressed)} to at least "
            f"{format_size(expanded)}): a decompression bomb or a run of one repeated byte",
            caveat=True,
        )


# -- entries ---------------------------------------------------------------------------------


class ArchiveEntry:
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
        except ARCHIVE_ERRORS:
            return None


class TarEntry(ArchiveEntry):
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


class ZipEntry(ArchiveEntry):
    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget) -> None:
        self.archive, self.info, self.budget = archive, info, budget
        # The zip format's separator is '/' (APPNOTE 4.4.17), but Windows PowerShell 5.1's
        # Compress-Archive writes '\\' ('esx-...\\var\\run\\log\\vvold.log'): without this a
        # bundle's layout and name are not seen, and its logs belong to no host.
        self.name, self.size = info.filename.replace("\\", "/"), info.file_size
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


# -- kinds and decompression -----------------------------------------------------------------


def archive_kind(opener: Opener, head: bytes, name: str) -> str | None:
    """``"zip"``, ``"tar"`` or None, by content (a gzip, bzip2 or xz is a tar if what it holds is)."""
    if head[:4] == _ZIP_MAGIC:
        return "zip"
    if _is_ustar(head):
        return "tar"
    if head[:2] == GZIP_MAGIC or head[:3] == _BZ2_MAGIC or head[:6] == _XZ_MAGIC:
        try:
            with opener() as raw:
                inner = decompressing(raw, Budget(Limits(), ""))
                first = inner.read(512)
        except Exception:
            first = b""
        if _is_ustar(first):
            return "tar"
        if is_archive_name(name):
            return "tar"  # a damaged .tgz: let the tar reader name the damage
    return None


def _is_ustar(block: bytes) -> bool:
    return len(block) >= 262 and block[257:262] == b"ustar"


def is_archive_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith((".tgz", ".tar.gz", ".tar", ".zip", ".tar.bz2", ".tar.xz", ".tbz", ".txz"))


def decompressing(raw: BinaryIO, budget: Budget) -> BinaryIO:
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


def reason(exc: BaseException) -> str:
    text = safe_name(str(exc))
    if len(text) > 200:
        text = text[:200] + "…"
    return text or type(exc).__name__
