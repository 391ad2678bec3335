"""End to end: real .tgz support bundles (both ESXi log shapes) -> pipeline -> expected verdict.

The incidents are hand-scripted in ``tests/fixtures/bundles.py``, one per failure class, and
written with the simulator's evidence writers, so readers, the bundle walker and the analysis are
all exercised on the same bytes an admin would hand over.
"""

from __future__ import annotations

import gzip
import re
import tarfile
from pathlib import Path

import pytest

from fixtures.bundles import INCIDENTS, NOW, SHAPES, VARIANTS
from vvolguard.analysis.model import FailureClass
from vvolguard.pipeline import diagnose
from vvolguard.records import Citation


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted({**INCIDENTS, **VARIANTS}))
def test_bundle_incident_gets_its_verdict(name: str, shape: str, tmp_path: Path) -> None:
    incident = {**INCIDENTS, **VARIANTS}[name]()
    paths = incident.write(tmp_path, shape)
    assert any(p.name.startswith("esx-") and p.name.endswith(".tgz") for p in paths)
    diagnosis = diagnose(paths, now=NOW)
    assert diagnosis.verdict.cls == incident.expected, diagnosis.verdict.summary
    primary = diagnosis.primary
    assert primary is not None and primary.reason and primary.next_moves
    if incident.expected != FailureClass.INSUFFICIENT_EVIDENCE:
        assert primary.citations
        for citation in primary.citations:
            _assert_real(citation)
    assert diagnosis.to_dict()["verdict"]["class"] == incident.expected.value


def _assert_real(citation: Citation) -> None:
    """A citation quotes its file: log and esxcli text at (or next to) the cited line; JSON
    exports, which readers quote as a compacted object, by the identifiers in the quote."""
    lines = _evidence_lines(citation.file)
    assert citation.line is not None and 1 <= citation.line <= len(lines), citation
    quoted = citation.text.rstrip("…").strip()
    if citation.file.endswith(".json"):
        tokens = [t for t in re.findall(r"[A-Za-z0-9][A-Za-z0-9_.:-]{5,}", quoted) if not t.endswith(".")]
        assert tokens and all(t in "\n".join(lines) for t in tokens[:5]), citation
        return
    window = " ".join(lines[max(0, citation.line - 2) : citation.line + 1])
    assert quoted[:60] in window, (citation, window)


def _evidence_lines(display: str) -> list[str]:
    """The text lines of a cited file, following ``bundle.tgz!member`` into the archive."""
    outer, _, member = display.partition("!")
    if member:
        with tarfile.open(outer) as tar:
            extracted = tar.extractfile(member)
            assert extracted is not None
            data = extracted.read()
    else:
        data = Path(outer).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace").splitlines()


def test_saturation_bundle_ties_failures_to_source_host_pressure(tmp_path: Path) -> None:
    d = diagnose(INCIDENTS["saturation"]().write(tmp_path, "esxi8"), now=NOW)
    assert len(d.migrations.failed) == 3 and d.migrations.total == 8
    assert all(f.source == "esx-01" for f in d.migrations.failed)
    assert all(f.nearby_signals["esx-01"]["no_free_conn"] >= 3 for f in d.migrations.failed)
    assert d.migrations.storms and d.migrations.storms[0].source_host == "esx-01"
    vvold_cites = [c for c in d.primary.citations if "vvold.log" in c.file]
    assert vvold_cites and all(".tgz!" in c.file for c in vvold_cites)
    assert any("No free connections" in c.text for c in vvold_cites)
    provider = next(p for p in d.providers if p.name == "pure-ct0")
    assert provider.ceiling == 5


def test_insufficient_bundle_lists_what_to_collect_from_the_source_host(tmp_path: Path) -> None:
    d = diagnose(INCIDENTS["insufficient-evidence"]().write(tmp_path, "esxi7"), now=NOW)
    wanted = [m for m in d.missing_evidence if "esx-01" in m.artifact]
    assert any("vvold.log" in m.artifact and "GetFreeConn" in m.command for m in wanted)
    assert any("vasaprovider list" in m.command for m in wanted)


def test_certificate_bundle_judges_expiry_at_the_incident(tmp_path: Path) -> None:
    d = diagnose(INCIDENTS["certificate-lifecycle"]().write(tmp_path, "esxi7"), now=NOW)
    cert = next(c for c in d.certificates if c["source"] == "certificate")
    assert cert["matches_provider"] is True and cert["provider"] == "pure-ct0"
    assert -6 < cert["days_left_at_incident"] < -4
    assert cert["days_left_now"] < cert["days_left_at_incident"]
