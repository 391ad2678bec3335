"""The certificate scenario's ground truth says what its certificate says.

It used to read "expired minutes before the evacuation" beside a certificate whose notAfter was
five days earlier. The sentence is now made from the numbers; this reads the PEM the simulator
wrote and checks the sentence against it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from vvolguard.sim.run import simulate


@pytest.mark.parametrize("seed", [1, 3])
def test_expired_certificate_truth_matches_the_certificate(tmp_path: Path, seed: int) -> None:
    out = tmp_path / "incident"
    result = simulate(scenario="certificate", seed=seed, out=out, formats="folder")
    pem = next((out / "certs").glob("*.pem")).read_bytes()
    not_after = x509.load_pem_x509_certificate(pem).not_valid_after_utc
    truth = json.loads((out / "ground-truth.json").read_text())
    sentence = next(s for s in truth["what_happened"] if "certificate expired" in s)
    starts = [datetime.fromisoformat(t["start"]) for t in truth.get("tasks", []) if t.get("start")]
    evacuation = min(starts) if starts else datetime.fromisoformat(truth["window"]["start"])
    days = round((evacuation - not_after) / timedelta(days=1))
    assert days >= 1
    assert f"expired {days} day{'s' if days != 1 else ''} before the evacuation" in sentence
    assert f"not after {not_after:%Y-%m-%d %H:%M}Z" in sentence
    assert "minutes before" not in " ".join(result.ground_truth["what_happened"])
