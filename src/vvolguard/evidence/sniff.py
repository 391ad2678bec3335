"""Decide what a file is, by content first and by name second.

Every reader module registers its readers in :data:`READER_MODULES`; the file goes to the reader
with the highest confidence. Below :data:`MIN_CONFIDENCE` the file is reported as of an unknown
format (a warning naming the file) and skipped.

Files that are plainly not evidence (an Office document, a PDF, an image: given by mistake, or
attached to the case next to the logs) are named as what they are (:func:`foreign_kind`,
:func:`office_kind`), in one warning, so the admin knows at once that nothing was lost.
"""

from __future__ import annotations

import importlib
import re
from functools import cache

from vvolguard.evidence import logline as ll
from vvolguard.evidence.base import Reader
from vvolguard.evidence.pasted import as_utf8
from vvolguard.evidence.source import EvidenceFile
from vvolguard.evidence.textio import head_text
from vvolguard.records import EvidenceKind

#: Modules under vvolguard.evidence that define ``READERS: list[Reader]``.
READER_MODULES = (
    "vvold",
    "hostlogs",
    "vcenterlogs",
    "esxcli",
    "providers",
    "tasks",
    "events",
    "certificates",
    "groundtruth",
    "casefile",
)

MIN_CONFIDENCE = 30


@cache
def all_readers() -> tuple[Reader, ...]:
    readers: list[Reader] = []
    for name in READER_MODULES:
        try:
            module = importlib.import_module(f"vvolguard.evidence.{name}")
        except ModuleNotFoundError as exc:  # a reader not built yet must not break the others
            if exc.name != f"vvolguard.evidence.{name}":
                raise
            continue
        readers.extend(getattr(module, "READERS", ()))
    return tuple(readers)


def sniff(ef: EvidenceFile, head: bytes | None = None) -> tuple[Reader | None, int]:
    """The best reader for a file and its confidence; sets ``ef.kind``."""
    head = ef.head() if head is None else head
    # A log saved as UTF-16 (Notepad's "Unicode", PowerShell's '>') is read as UTF-8 by the line
    # readers (:mod:`pasted`); their sniffers, which look for bytes, get its UTF-8 head too.
    heads = (head, utf8) if (utf8 := as_utf8(head)) is not head else (head,)
    best: tuple[Reader | None, int] = (None, 0)
    for reader in all_readers():
        try:
            score = max(reader.sniff(ef.name, h) for h in heads)
        except Exception as exc:  # a sniffer bug must not lose the file
            ef.warn(f"internal: {reader.kind} sniffer failed: {exc!r}")
            continue
        if score > best[1]:
            best = (reader, score)
    if best[0] is None or best[1] < MIN_CONFIDENCE:
        ef.kind = EvidenceKind.UNKNOWN
        return None, best[1]
    ef.kind = best[0].kind
    return best


# -- a table no reader knows -----------------------------------------------------------------

#: A date and a time of day in any common spelling (2026-03-14 10:11, 14.03.2026 10:11:41,
#: 2026/03/14 10:11:41, 3/14/2026, 10:11:41 AM).
_DATED_ROW = re.compile(
    r"(?m)^.{0,200}?(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})[T ,]{1,3}\d{1,2}:\d{2}"
)


def dated_rows(head: bytes) -> bool:
    """The head of a file no reader took has two or more lines with a date and a time: rows of a
    task or event list in a shape or language the readers do not know (a Japanese client's CSV,
    ``Get-VIEvent | Format-Table``), which may hold the failures. A verdict of "healthy" must not
    be drawn past it (the failures in it were not seen, not absent)."""
    return len(_DATED_ROW.findall(head_text(head[:65536]), 0)) >= 2


# -- central syslog files -------------------------------------------------------------------

#: The ESXi logs a central syslog server may keep in one file, each read by its own reader.
HOST_LOG_KINDS = (EvidenceKind.VVOLD_LOG, EvidenceKind.HOSTD_LOG, EvidenceKind.VMKERNEL_LOG)
#: A forwarded record: ``<PRI>`` or a BSD stamp, or ESXi's time, then the sending host and an
#: ``App:`` / ``App[pid]:`` tag (``2026-03-14T10:10:00Z esx01 Vvold: info vvold[1] ...``). A host
#: name has no parentheses: ESXi 8's own ``In(166) VVold[1]: ...`` is not a forwarded record.
#: A relay in front of the syslog server may put its own BSD header first (§8).
_FORWARDED = re.compile(
    rb"(?m)^(?:<\d{1,3}>)?" + ll.RELAY_PREFIX.encode() + rb"(?:\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d\d:?\d\d)|"
    rb"[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d) [^\s:\[\]()]+ ([A-Za-z][\w.-]*)(?:\[\d+\])?: "
)
#: The syslog tags of each host log's own lines (``Vvold:``, ``Hostd:``, ``vmkernel:``), lower case.
_OWN_TAGS = {
    EvidenceKind.VVOLD_LOG: ("vvold",),
    EvidenceKind.HOSTD_LOG: ("hostd",),
    EvidenceKind.VMKERNEL_LOG: ("vmkernel", "vmkwarning"),
}


def also_readers(ef: EvidenceFile, chosen: Reader, head: bytes | None = None) -> list[Reader]:
    """The other host-log readers for a central syslog file: it mixes vvold, hostd and vmkernel
    lines of many hosts, and each reader keeps only its own, so each reads the whole file.

    Not for a file that a syslog server keeps for one program (``<host>/vvold.log-20260314.gz``):
    named for the program its reader reads, with only that program's tag in its head. Reading
    it three times found nothing more and cost a central archive (``vvolguard fleet``'s input)
    about a third of its time. A file named for one program that holds another's lines in its
    head (or any file named otherwise: ``messages``, ``all.log``) is still read by all three."""
    if chosen.kind not in HOST_LOG_KINDS:
        return []
    head = ef.head() if head is None else head
    tags = {match.group(1).decode("ascii").lower() for match in _FORWARDED.finditer(head)}
    if not tags:
        return []
    own = _OWN_TAGS[EvidenceKind(chosen.kind)]
    if tags <= set(own) and any(re.match(rf"{tag}(?:[._-]|$)", ef.name.lower()) for tag in own):
        return []
    return [r for r in all_readers() if r.kind in HOST_LOG_KINDS and r.kind != chosen.kind]


# -- not evidence at all ---------------------------------------------------------------------

#: Magic numbers of files people attach to a case by mistake (checked on the first bytes).
_FOREIGN_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF-", 0, "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", 0, "a PNG image"),
    (b"\xff\xd8\xff", 0, "a JPEG image"),
    (b"GIF87a", 0, "a GIF image"),
    (b"GIF89a", 0, "a GIF image"),
    (b"II*\x00", 0, "a TIFF image"),
    (b"MM\x00*", 0, "a TIFF image"),
    (b"{\\rtf", 0, "an RTF document"),
)
#: ISO media brands of HEIC/HEIF/AVIF photos (``....ftypheic``).
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"avif")
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE2_BY_NAME = (
    (re.compile(r"(?i)\.(?:doc|dot)$"), "a Word 97-2003 document"),
    (re.compile(r"(?i)\.(?:xls|xlt)$"), "an Excel 97-2003 workbook"),
    (re.compile(r"(?i)\.(?:ppt|pps|pot)$"), "a PowerPoint 97-2003 presentation"),
    (re.compile(r"(?i)\.msg$"), "an Outlook message"),
)
_OLE2_BY_CONTENT = (
    ("W\x00o\x00r\x00d\x00D\x00o\x00c\x00u\x00m\x00e\x00n\x00t".encode("latin-1"), "a Word 97-2003 document"),
    ("W\x00o\x00r\x00k\x00b\x00o\x00o\x00k".encode("latin-1"), "an Excel 97-2003 workbook"),
    ("P\x00o\x00w\x00e\x00r\x00P\x00o\x00i\x00n\x00t".encode("latin-1"), "a PowerPoint 97-2003 presentation"),
)


def foreign_kind(head: bytes, name: str = "") -> str | None:
    """What a file that is plainly not evidence is ("a PDF document"), from its first bytes.

    ``None`` for anything that could be evidence. BMP is recognised by its full header (``BM``,
    the file size, zero reserved fields), not by two letters a log could start with.
    """
    for magic, offset, what in _FOREIGN_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return what
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "a HEIC/HEIF image"
    if (
        len(head) >= 26
        and head[:2] == b"BM"
        and head[6:10] == b"\x00\x00\x00\x00"
        and head[14] in (12, 40, 52, 56, 64, 108, 124)
    ):
        return "a BMP image"
    if head[:8] == _OLE2:
        for pattern, what in _OLE2_BY_NAME:
            if pattern.search(name):
                return what
        for marker, what in _OLE2_BY_CONTENT:
            if marker in head:
                return what
        return "an Office 97-2003 document (Word, Excel or PowerPoint)"
    return None


def office_kind(member_names: list[str]) -> str | None:
    """What a zip is when it is an Office Open XML or OpenDocument file, by its member names.

    A .docx/.xlsx/.pptx is a zip with ``[Content_Types].xml`` and a ``word/``, ``xl/`` or ``ppt/``
    part; an OpenDocument file starts with a ``mimetype`` member. Listing its members one by one
    as "unknown format" would bury the one thing to say: this is a document, not evidence.
    """
    names = set(member_names)
    if "[Content_Types].xml" in names:
        tops = {n.split("/", 1)[0] for n in names}
        if "word" in tops:
            return "a Word document"
        if "xl" in tops:
            return "an Excel workbook"
        if "ppt" in tops:
            return "a PowerPoint presentation"
        if "visio" in tops:
            return "a Visio drawing"
        return "an Office document"
    if "mimetype" in names and any(n.startswith("META-INF/") for n in names):
        return "an OpenDocument file (LibreOffice/OpenOffice)"
    return None
