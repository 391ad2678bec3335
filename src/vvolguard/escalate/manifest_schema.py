"""JSON Schema of ``manifest.json`` (``vvolguard.escalation-manifest/v1``).

Kept beside the manifest builder so tools on the vendor's side can validate what they receive,
and so the tests hold the builder to the documented shape.
"""

from __future__ import annotations

from typing import Any

from vvolguard.escalate.classify import Part
from vvolguard.escalate.manifest import ITEMS, MISSING, PARTIAL, PRESENT, SCHEMA_ID

_MISSING_SCHEMA = {
    "type": "object",
    "required": ["what", "command"],
    "properties": {"what": {"type": "string"}, "host": {"type": "string"}, "command": {"type": "string"}},
    "additionalProperties": False,
}

#: JSON Schema of manifest.json, for tools on the vendor's side (and the tests).
MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "type": "object",
    "required": ["schema", "created", "tool", "summary", "items", "files", "not_included", "warnings",
                 "excerpt_window_minutes", "redaction", "diagnosis_suggests"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "created": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"},
        "tool": {"type": "string"},
        "summary": {
            "type": "object",
            "required": [PRESENT, PARTIAL, MISSING],
            "additionalProperties": {"type": "integer", "minimum": 0},
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "title", "runbook", "status", "files", "details", "missing"],
                "properties": {
                    "id": {"enum": [spec.id for spec in ITEMS]},
                    "title": {"type": "string"},
                    "runbook": {"type": "boolean"},
                    "status": {"enum": [PRESENT, PARTIAL, MISSING]},
                    "files": {"type": "array", "items": {"type": "string"}},
                    "details": {"type": "array", "items": {"type": "string"}},
                    "missing": {"type": "array", "items": _MISSING_SCHEMA},
                },
                "additionalProperties": False,
            },
        },
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "kind", "source"],
                "properties": {
                    "path": {"type": "string"}, "kind": {"enum": [p.value for p in Part]},
                    "source": {"type": "string"}, "host": {"type": "string"}, "note": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
        "diagnosis_suggests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["artifact", "why", "command"],
                "properties": {k: {"type": "string"} for k in ("artifact", "why", "command")},
            },
        },
        "not_included": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["input", "why"],
                "properties": {"input": {"type": "string"}, "why": {"type": "string"}},
            },
        },
        "warnings": {"type": "array", "items": {"type": "string"}},
        "excerpt_window_minutes": {"type": "number", "exclusiveMinimum": 0},
        "redaction": {
            "type": "object",
            "required": ["pseudonymised", "aliases", "secrets"],
            "properties": {
                "pseudonymised": {"type": "boolean"},
                "aliases": {"type": "object", "additionalProperties": {"type": "integer"}},
                "secrets": {"type": "string"},
            },
        },
    },
}  # fmt: skip
