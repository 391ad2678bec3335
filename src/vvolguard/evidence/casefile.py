"""Recognise ``collect``'s ``case.json`` and repeat what it says is missing.

Why: a collected case can be partial (SSH closed, SMS down, a permission missing). The manifest
names each missing source; ``diagnose`` of the case folder shows each one as a warning on the
manifest, so nobody reads "no pressure seen" into evidence that was never gathered. The file
holds no evidence itself and yields no records.
"""

from __future__ import annotations

from collections.abc import Iterator

from vvolguard.evidence.marked import MarkedJsonReader
from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import EvidenceKind, Record

#: ``vvolguard.live.case.MANIFEST_KEY`` (not imported: readers stay free of the live package).
KEY = "vvolguard_case"


class CaseManifestReader(MarkedJsonReader):
    kind = EvidenceKind.CASE_MANIFEST
    key = KEY
    what = "case manifest"

    def read(self, ef: EvidenceFile) -> Iterator[Record]:
        doc = self.load(ef)
        if doc is None:
            return
        for item in doc.get("missing") or []:
            if isinstance(item, dict):
                what = item.get("evidence") or item.get("source") or "a source"
                ef.warn(
                    f"collect could not gather {what} ({item.get('target') or '?'}): "
                    f"{item.get('reason') or 'unknown reason'}",
                    caveat=True,
                )
        yield from ()


READERS = [CaseManifestReader()]
