"""The contract every evidence reader implements.

One reader per kind of evidence (as dissect.target has one plugin per artifact). A reader says how
sure it is that a file is its kind (``sniff``), and turns the file into records (``read``). It
never raises on bad input: it yields what it could read and records what it could not on
``EvidenceFile.warn`` (file, line, why).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import EvidenceKind, Record


class Reader(Protocol):
    kind: EvidenceKind

    def sniff(self, name: str, head: bytes) -> int:
        """Confidence 0..100 that a file with this (logical, .gz-stripped) base name and these
        first bytes is this reader's kind. Content must count: renamed files are common."""
        ...

    def read(self, ef: EvidenceFile) -> Iterator[Record]:
        """Stream records from the file. Must not raise on any input."""
        ...
