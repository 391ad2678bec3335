"""Per-file warnings with a cap, and the safety net every structured reader runs under.

Why a cap: a file of 100 000 broken rows must not flood a report; why a safety net: readers are
written not to raise, and :func:`guarded` is the last line of defence that keeps the records
already produced when one does anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import Record

#: Warnings kept per file, so a file of 100 000 broken rows cannot flood a report.
WARN_CAP = 50


class Warn(Protocol):
    """What readers and helpers need of a warner: a :class:`Warner`, or a section's
    ``transcript.OffsetWarner`` that shifts line numbers to the whole file's."""

    def __call__(self, message: str, line: int | None = None, *, caveat: bool = False) -> None: ...

    def once(self, key: str, message: str, line: int | None = None, *, caveat: bool = False) -> None: ...


class Warner:
    """``ef.warn`` with a cap: the first :data:`WARN_CAP` warnings, then one summary line."""

    def __init__(self, ef: EvidenceFile, cap: int = WARN_CAP) -> None:
        self.ef = ef
        self.cap = cap
        self.count = 0
        self._once: set[str] = set()

    def __call__(self, message: str, line: int | None = None, *, caveat: bool = False) -> None:
        self.count += 1
        if self.count <= self.cap:
            self.ef.warn(message, line, caveat=caveat)

    def once(self, key: str, message: str, line: int | None = None, *, caveat: bool = False) -> None:
        """Warn about a file-wide condition (e.g. times without a zone) only the first time."""
        if key not in self._once:
            self._once.add(key)
            self(message, line, caveat=caveat)

    def finish(self) -> None:
        if self.count > self.cap:
            self.ef.warn(f"{self.count - self.cap} more warnings like the above were not listed")
            self.count = self.cap  # a second finish() must not repeat the summary


def guarded(ef: EvidenceFile, records: Iterator[Record], warner: Warner | None = None) -> Iterator[Record]:
    """Run a reader's generator so that a bug in it costs the rest of the file, not the diagnosis.

    Readers are written not to raise; this is the last line of defence that the contract
    ("never raise on any input") demands, and it keeps the records already produced.
    """
    try:
        yield from records
    except Exception as exc:
        ef.warn(f"internal: reading stopped early ({type(exc).__name__}: {exc}); earlier records were kept")
    finally:
        if warner is not None:
            warner.finish()


class GuardedReader:
    """Base of the structured readers: ``read`` runs the subclass's ``_read`` under
    :func:`guarded` with one :class:`Warner` per file, so no reader repeats that wiring."""

    def read(self, ef: EvidenceFile) -> Iterator[Record]:
        warn = Warner(ef)
        return guarded(ef, self._read(ef, warn), warn)

    def _read(self, ef: EvidenceFile, warn: Warn) -> Iterator[Record]:
        raise NotImplementedError
