"""One rule list (issue #10 D): the prefilter and the classifier are derived from
``vvold_block.RULES``, and every sample line a rule carries reaches that rule's kind through the
real reader (prefilter, header parse, fast paths, classifier), the way lnav tests its formats."""

from __future__ import annotations

import re

import pytest

from vvolguard.evidence import vvold_block
from vvolguard.evidence.source import from_bytes
from vvolguard.evidence.vvold import VvoldReader
from vvolguard.records import VasaFrame

HEADER = "2024-03-14T10:02:11.418Z warning vvold[1] [Originator@6876 sub=Default] "
TIMED = re.compile(r"^(?:\d+:)?\d{4}-\d{2}-\d{2}T")

CASES = [(rule.kind, sample) for rule in vvold_block.RULES for sample in rule.samples]


def as_log(sample: str) -> str:
    """A sample as a log: whole lines as they are; a ``-->`` line under a bare header; a message
    on a header line."""
    if TIMED.match(sample):
        return sample + "\n"
    if sample.startswith("-->"):
        return HEADER.rstrip() + "\n" + sample + "\n"
    return HEADER + sample + "\n"


@pytest.mark.parametrize(("kind", "sample"), CASES, ids=[f"{k.value}-{i}" for i, (k, _) in enumerate(CASES)])
def test_every_sample_reaches_its_kind(kind, sample: str) -> None:
    ef = from_bytes("vvold.log", as_log(sample).encode(), host="esx01")
    frames = [r.frame for r in VvoldReader().read(ef) if isinstance(r, VasaFrame)]
    assert [row["kind"] for f in frames for row in f.to_dicts()] == [kind.value]


def test_every_rule_has_samples_and_the_prefilter_is_their_union() -> None:
    assert all(rule.samples for rule in vvold_block.RULES)
    alternatives = set(vvold_block.PREFILTER.split("|"))
    for rule in vvold_block.RULES:
        assert set(rule.any_of) <= alternatives
    assert [kind for _, kind in vvold_block.KIND_RULES] == [rule.kind for rule in vvold_block.RULES]


@pytest.mark.parametrize("phrase", ["no free conn", "certificate verify", "connection refused"])
def test_case_variants_are_spelled_out_for_both(phrase: str) -> None:
    variants = vvold_block.spellings(phrase)
    assert phrase.upper() in variants and phrase.capitalize() in variants and phrase.title() in variants
    assert all(v in vvold_block.PREFILTER for v in variants)
