"""Recognise the simulator's ``ground-truth.json`` so it is not reported as an unknown format.

The file says what really happened in a simulated incident (scenario, expected class). The
analysis ignores :class:`GroundTruth` records on purpose: a diagnosis must come from the
evidence, never from the answer key. Tests compare the two.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import Citation, EvidenceKind, GroundTruth, Record

#: The key that marks the file (``vvolguard.sim.output.GROUND_TRUTH_KEY``).
KEY = "vvolguard_ground_truth"
#: Largest ground-truth file read; the simulator's are a few kB.
LIMIT = 16 * 1024 * 1024


class GroundTruthReader:
    kind = EvidenceKind.GROUND_TRUTH

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
            ef.warn(f"ground-truth file is not valid JSON ({exc}); ignored")
            return
        if not isinstance(doc, dict) or KEY not in doc:
            ef.warn("not a vvolguard ground-truth document; ignored")
            return
        scenario = str(doc.get("scenario") or "")
        expected = str(doc.get("expected_class") or "")
        if not scenario or not expected:
            ef.warn("ground-truth file lacks scenario or expected_class; ignored")
            return
        yield GroundTruth(
            scenario=scenario,
            expected_class=expected,
            citation=Citation(ef.display, None, f"scenario={scenario} expected_class={expected}"),
        )


READERS = [GroundTruthReader()]
