"""Recognise the simulator's ``ground-truth.json`` so it is not reported as an unknown format.

The file says what really happened in a simulated incident (scenario, expected class). The
analysis ignores :class:`GroundTruth` records on purpose: a diagnosis must come from the
evidence, never from the answer key. Tests compare the two.
"""

from __future__ import annotations

from collections.abc import Iterator

from vvolguard.evidence.marked import MarkedJsonReader
from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import Citation, EvidenceKind, GroundTruth, Record

#: The key that marks the file (``vvolguard.sim.output.GROUND_TRUTH_KEY``).
KEY = "vvolguard_ground_truth"


class GroundTruthReader(MarkedJsonReader):
    kind = EvidenceKind.GROUND_TRUTH
    key = KEY
    what = "ground-truth file"

    def read(self, ef: EvidenceFile) -> Iterator[Record]:
        doc = self.load(ef)
        if doc is None:
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
