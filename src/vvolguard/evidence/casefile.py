"""Recognise ``collect``'s ``case.json`` and repeat what it says is missing.

Why: a collected case can be partial (SSH closed, SMS down, a permission missing). The manifest
names each missing source; ``diagnose`` of the case folder shows each one as a warning on the
manifest, so nobody reads "no pressure seen" into evidence that was never gathered. The file
holds no evidence itself and yields no records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import EvidenceKind, Record

#: ``vvolguard.live.case.MANIFEST_KEY`` (not imported: readers stay free of the live package).
KEY = "vvolguard_case"
LIMIT = 16 * 1024 * 1024


class CaseManifestReader:
    kind = EvidenceKind.CASE_MANIFEST

    def sniff(self, name: str, head: bytes) -> int:
        if head.lstrip()[:1] == b"{" and f'"{KEY}"'.encode() in head[:4096]:
            return 100
        return 0

    def read(self, ef: EvidenceFile) -> Iterator[Record]:
        text = ef.text(LIMIT)
        if text is None:
            return
        try:
            doc = json.loads(text)
        except ValueError as exc:
            ef.warn(f"case manifest is not valid JSON ({exc}); ignored")
            return
        if not isinstance(doc, dict):
            ef.warn("not a vvolguard case manifest; ignored")
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
