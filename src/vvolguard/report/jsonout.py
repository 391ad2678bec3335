"""``--json``: the Diagnosis as a ``vvolguard.diagnosis/v1`` document (see ``json_schema.py``).

Scripts diff these documents between runs, so the text must be byte-identical for the same
Diagnosis: top-level keys come in a fixed reading order (schema and verdict first), keys of the
free-form maps (signals, thresholds, certificates, statuses) are sorted, and NaN or infinity, which
JSON cannot carry, become ``null``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from vvolguard.analysis.model import Diagnosis

#: Top-level order: what a person scanning the file wants first. Unknown (future) keys follow.
TOP_LEVEL_ORDER = (
    "schema",
    "verdict",
    "findings",
    "migrations",
    "providers",
    "protocol_endpoints",
    "certificates",
    "missing_evidence",
    "notes",
    "watch",
    "warnings",
    "signals",
    "hosts",
    "incident_window",
    "coverage",
    "now",
    "thresholds",
    "inputs",
)

#: Exact types that hold no float and no container, returned as they are without further checks.
_LEAVES = frozenset({str, int, bool, type(None)})

#: Maps whose keys come from data, not from dataclass fields, so insertion order is not stable.
_FREE_FORM = ("signals", "thresholds", "certificates")


def diagnosis_document(d: Diagnosis) -> dict[str, Any]:
    """The v1 document as plain Python data, normalised as described in the module docstring."""
    raw = _finite(d.to_dict())
    doc: dict[str, Any] = {k: raw[k] for k in TOP_LEVEL_ORDER if k in raw}
    doc.update({k: raw[k] for k in raw if k not in doc})
    verdict = doc.get("verdict")
    if isinstance(verdict, dict):
        first = {k: verdict[k] for k in ("class", "confidence", "summary") if k in verdict}
        doc["verdict"] = {**first, **verdict}
    for key in _FREE_FORM:
        if key in doc:
            doc[key] = _sorted(doc[key])
    for provider in doc.get("providers") or []:
        for key in ("status", "certificate"):
            if isinstance(provider.get(key), dict):
                provider[key] = _sorted(provider[key])
    for failed in (doc.get("migrations") or {}).get("failed") or []:
        if isinstance(failed.get("nearby_signals"), dict):
            failed["nearby_signals"] = _sorted(failed["nearby_signals"])
    migrations = doc.get("migrations") or {}
    if isinstance(migrations.get("peak_concurrency"), dict):
        migrations["peak_concurrency"] = _sorted(migrations["peak_concurrency"])
    return doc


#: The long lists of ``signals`` (a point per time bucket), written one point per line.
_POINT_LISTS = ("timeline", "migrations_in_flight")


def to_json(d: Diagnosis) -> str:
    """Pretty, deterministic JSON text (no trailing newline; the caller writes one).

    Indented, except that each point of the signal series is one line of its own: the series
    are most of a large log's document (tens of thousands of points), and Python's indenting
    encoder is pure Python (about 6x the compact C encoder; it ran on one core at the very end
    of a diagnose), and a point per line is also easier to read and to diff."""
    doc = diagnosis_document(d)
    signals = doc.get("signals")
    points: dict[str, list[Any]] = {}
    if isinstance(signals, dict):
        for name in _POINT_LISTS:
            if isinstance(signals.get(name), list) and signals[name]:
                points[name] = signals[name]
                signals[name] = _placeholder(name)
    text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False, default=_fallback)
    for name, items in points.items():
        lines = ",\n      ".join(
            json.dumps(item, ensure_ascii=False, allow_nan=False, default=_fallback) for item in items
        )
        text = text.replace(json.dumps(_placeholder(name)), f"[\n      {lines}\n    ]", 1)
    return text


def _placeholder(name: str) -> str:
    """A string no diagnosis holds (control characters), standing for a list until it is written."""
    return f"\x00vvolguard:{name}\x00"


def _fallback(value: Any) -> Any:
    """Values the analysis may leave in ``signals`` that ``json`` does not know (numpy scalars,
    dates): write what they mean rather than failing the whole report."""
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "item"):
        return _finite(value.item())
    return str(value)


def _sorted(value: Any) -> Any:
    kind = type(value)  # exact types first: the timeline is tens of thousands of plain values
    if kind is dict or (kind not in _LEAVES and isinstance(value, dict)):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if kind is list or (kind not in _LEAVES and isinstance(value, list)):
        return [_sorted(v) for v in value]
    return value


def _finite(value: Any) -> Any:
    kind = type(value)
    if kind in _LEAVES:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
