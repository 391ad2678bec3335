"""Decide what a file is, by content first and by name second.

Every reader module registers its readers in :data:`READER_MODULES`; the file goes to the reader
with the highest confidence. Below :data:`MIN_CONFIDENCE` the file is reported as of an unknown
format (a warning naming the file) and skipped.
"""

from __future__ import annotations

import importlib
from functools import cache

from vvolguard.evidence.base import Reader
from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import EvidenceKind

#: Modules under vvolguard.evidence that define ``READERS: list[Reader]``.
READER_MODULES = ("vvold", "hostlogs", "esxcli", "providers", "tasks", "certificates", "groundtruth")

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


def reader_for(kind: EvidenceKind) -> Reader | None:
    return next((r for r in all_readers() if r.kind == kind), None)


def sniff(ef: EvidenceFile, head: bytes | None = None) -> tuple[Reader | None, int]:
    """The best reader for a file and its confidence; sets ``ef.kind``."""
    head = ef.head() if head is None else head
    best: tuple[Reader | None, int] = (None, 0)
    for reader in all_readers():
        try:
            score = reader.sniff(ef.name, head)
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
