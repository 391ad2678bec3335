"""Readers of vvolguard's own JSON files (the simulator's ground truth, collect's case manifest):
recognised by a marker key near the start, so they are never reported as unknown evidence."""

from __future__ import annotations

import json
from typing import Any

from vvolguard.evidence.source import EvidenceFile

#: Largest such file read; they are a few kB.
LIMIT = 16 * 1024 * 1024


class MarkedJsonReader:
    """Sniffs a JSON object whose first 4 kB hold ``"<key>"``; :meth:`load` gives the object."""

    key: str
    what: str  # "ground-truth file", "case manifest": for the warnings

    def sniff(self, name: str, head: bytes) -> int:
        if head.lstrip()[:1] == b"{" and f'"{self.key}"'.encode() in head[:4096]:
            return 100
        return 0

    def load(self, ef: EvidenceFile) -> dict[str, Any] | None:
        """The object, or ``None`` with a warning naming the file."""
        text = ef.text(LIMIT)
        if text is None:
            return None
        try:
            doc = json.loads(text)
        except ValueError as exc:
            ef.warn(f"{self.what} is not valid JSON ({exc}); ignored")
            return None
        if not isinstance(doc, dict) or self.key not in doc:
            ef.warn(f"not a vvolguard {self.what}; ignored")
            return None
        return doc
