"""The hand-written v1 schema: valid, matches real documents, rejects broken ones, documents every
field the model has."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import jsonschema
import pytest

from vvolguard.analysis import model
from vvolguard.analysis.model import Diagnosis, FailureClass, Severity
from vvolguard.report.json_schema import diagnosis_schema
from vvolguard.report.jsonout import to_json


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = diagnosis_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def doc_of(d: Diagnosis) -> dict[str, Any]:
    return json.loads(to_json(d))


def test_schema_is_draft_2020_12_for_v1() -> None:
    schema = diagnosis_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema"]["const"] == "vvolguard.diagnosis/v1"


def test_sample_diagnoses_validate(
    validator: jsonschema.Draft202012Validator, any_diagnosis: Diagnosis
) -> None:
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc_of(any_diagnosis))]
    assert errors == []


def _set(doc: dict, path: list, value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    if value is _DELETE:
        del doc[path[-1]]
    else:
        doc[path[-1]] = value


_DELETE = object()

MUTATIONS = {
    "missing verdict.class": (["verdict", "class"], _DELETE, ["verdict"]),
    "unknown verdict class": (["verdict", "class"], "storage-is-sad", ["verdict", "class"]),
    "bad severity": (["findings", 0, "severity"], "urgent", ["findings", 0, "severity"]),
    "confidence above 1": (["findings", 0, "confidence"], 1.5, ["findings", 0, "confidence"]),
    "wrong schema id": (["schema"], "vvolguard.diagnosis/v2", ["schema"]),
    "citation without line": (
        ["findings", 0, "citations", 0, "line"],
        _DELETE,
        ["findings", 0, "citations", 0],
    ),
    "naive timestamp": (["now"], "2026-03-10T15:00:00", ["now"]),
    "signals half there": (["signals"], {"bucket_seconds": 30}, ["signals"]),
    "count is a string": (
        ["signals", "per_provider", 0, "counts", "busy"],
        "12",
        ["signals", "per_provider", 0, "counts", "busy"],
    ),
    "failed migration without vm": (["migrations", "failed", 0, "vm"], _DELETE, ["migrations", "failed", 0]),
    "missing evidence without command": (
        ["missing_evidence", 0, "command"],
        _DELETE,
        ["missing_evidence", 0],
    ),
    "window of one time": (["incident_window"], ["2026-03-10T14:00:00Z"], ["incident_window"]),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_broken_documents_are_rejected_where_they_are_broken(
    validator: jsonschema.Draft202012Validator, saturation: Diagnosis, name: str
) -> None:
    path, value, error_path = MUTATIONS[name]
    doc = copy.deepcopy(doc_of(saturation))
    assert not list(validator.iter_errors(doc))
    _set(doc, path, value)
    errors = list(validator.iter_errors(doc))
    assert errors, name
    assert any(list(e.absolute_path) == error_path for e in errors), [list(e.absolute_path) for e in errors]


def test_empty_signals_are_allowed(
    validator: jsonschema.Draft202012Validator, insufficient: Diagnosis
) -> None:
    doc = doc_of(insufficient)
    assert doc["signals"] == {}
    assert validator.is_valid(doc)


def test_documents_may_gain_fields_within_v1(
    validator: jsonschema.Draft202012Validator, healthy: Diagnosis
) -> None:
    doc = doc_of(healthy)
    doc["future_field"] = {"anything": 1}
    doc["verdict"]["explanation"] = "more"
    assert validator.is_valid(doc)


def test_enums_follow_the_model() -> None:
    schema = diagnosis_schema()
    assert schema["properties"]["verdict"]["properties"]["class"]["enum"] == [c.value for c in FailureClass]
    finding = schema["properties"]["findings"]["items"]["properties"]
    assert finding["severity"]["enum"] == [s.value for s in Severity]


def _props(schema: dict, *path: str) -> dict:
    node = schema
    for key in path:
        node = node["properties"][key]
        node = node.get("items", node) if node.get("type") == "array" else node
    return node["properties"]


@pytest.mark.parametrize(
    ("cls", "path"),
    [
        (model.Diagnosis, ()),
        (model.Finding, ("findings",)),
        (model.Migrations, ("migrations",)),
        (model.FailedMigration, ("migrations", "failed")),
        (model.StormWindow, ("migrations", "storms")),
        (model.ProviderSummary, ("providers",)),
        (model.PESummary, ("protocol_endpoints",)),
        (model.MissingEvidence, ("missing_evidence",)),
        (model.InputFile, ("inputs",)),
    ],
)
def test_every_model_field_is_documented(cls: type, path: tuple[str, ...]) -> None:
    """A field added to the model must be described in report/json_schema.py too."""
    documented = set(_props(diagnosis_schema(), *path))
    fields = {f.name for f in dataclasses.fields(cls)}
    assert fields - documented == set()


def test_every_object_and_top_level_property_has_a_description() -> None:
    schema = diagnosis_schema()
    missing = [k for k, v in schema["properties"].items() if "description" not in v]
    assert missing == []

    def walk(node: Any, where: str) -> list[str]:
        out = []
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and "description" not in node:
                out.append(where)
            for k, v in node.items():
                out += walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                out += walk(v, f"{where}/{i}")
        return out

    assert walk(schema, "") == []
