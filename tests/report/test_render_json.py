"""``--json`` output: the v1 document, deterministic text, nothing JSON cannot carry."""

from __future__ import annotations

import json
from dataclasses import replace

from vvolguard.analysis.model import Diagnosis
from vvolguard.report.jsonout import diagnosis_document, to_json


def test_json_is_the_to_dict_document(any_diagnosis: Diagnosis) -> None:
    text = to_json(any_diagnosis)
    assert text.startswith("{\n") and text.endswith("\n}")
    assert json.loads(text) == json.loads(json.dumps(any_diagnosis.to_dict()))


def test_reading_order_schema_and_verdict_first(saturation: Diagnosis) -> None:
    doc = json.loads(to_json(saturation))
    assert list(doc)[:3] == ["schema", "verdict", "findings"]
    assert list(doc["verdict"]) == ["class", "confidence", "summary"]
    assert doc["verdict"]["class"] == "provider-saturation"
    assert to_json(saturation).startswith('{\n  "schema": "vvolguard.diagnosis/v1",\n  "verdict": {\n')


def test_same_diagnosis_same_bytes_whatever_the_dict_insertion_order(saturation: Diagnosis) -> None:
    shuffled = dict(reversed(list(saturation.signals.items())))
    shuffled["per_provider"] = [dict(reversed(list(p.items()))) for p in saturation.signals["per_provider"]]
    other = replace(
        saturation,
        signals=shuffled,
        thresholds=dict(reversed(list(saturation.thresholds.items()))),
        providers=[replace(p, status=dict(reversed(list(p.status.items())))) for p in saturation.providers],
    )
    assert other.signals is not saturation.signals
    assert list(other.signals) != list(saturation.signals)
    assert to_json(other) == to_json(saturation)


def test_nan_and_infinity_become_null_and_numpy_scalars_are_written(saturation: Diagnosis) -> None:
    import numpy as np

    d = replace(
        saturation,
        thresholds={"a": float("nan"), "b": float("inf")},
        signals={**saturation.signals, "bucket_seconds": np.int64(30)},
    )
    text = to_json(d)
    doc = json.loads(text)
    assert doc["thresholds"] == {"a": None, "b": None}
    assert doc["signals"]["bucket_seconds"] == 30
    assert "NaN" not in text and "Infinity" not in text


def test_datetimes_are_utc_iso_with_z(saturation: Diagnosis) -> None:
    doc = diagnosis_document(saturation)
    assert doc["now"] == "2026-03-10T15:00:00Z"
    assert doc["incident_window"] == ["2026-03-10T14:00:00Z", "2026-03-10T14:20:00Z"]
    assert doc["migrations"]["failed"][0]["time"] == "2026-03-10T14:06:10Z"
    assert doc["signals"]["timeline"][0]["t"] == "2026-03-10T14:00:00Z"


def test_each_point_of_the_signal_series_is_one_line(saturation: Diagnosis) -> None:
    """The series are written a point per line (the rest indented); a provider name from a log
    that looks like JSON punctuation, or like the writer's own stand-in, changes nothing."""
    timeline = [dict(p) for p in saturation.signals["timeline"]]
    assert len(timeline) > 2
    timeline[1]["vp"] = '"}, {"vp": "x\x00vvolguard:timeline\x00'
    d = replace(saturation, signals={**saturation.signals, "timeline": timeline})
    text = to_json(d)
    doc = json.loads(text)
    assert doc == json.loads(json.dumps(diagnosis_document(d)))
    lines = text.splitlines()
    start = lines.index('    "timeline": [')
    points = lines[start + 1 : start + 1 + len(timeline)]
    assert [json.loads(line.strip().rstrip(",")) for line in points] == doc["signals"]["timeline"]
    assert lines[start + 1 + len(timeline)].rstrip(",") == "    ]"
