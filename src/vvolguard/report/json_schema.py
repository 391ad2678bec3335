"""The JSON Schema (draft 2020-12) of ``vvolguard.diagnosis/v1``: this IS its documentation.

It is written by hand, not generated from the dataclasses, because the descriptions are the point:
whoever scripts against ``vvolguard diagnose --json`` reads them (``vvolguard schema diagnosis``).

Compatibility rule: v1 documents may gain properties (so ``additionalProperties`` is left open),
but documented properties keep their names, types and meaning. Removing or renaming one is v2.
"""

from __future__ import annotations

import copy
from typing import Any

from vvolguard.analysis.model import SCHEMA_ID, FailureClass, NoteKind, Severity

_TIME = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
    "description": "RFC 3339 timestamp, UTC written with a trailing Z.",
}
_TIME_OR_NULL = {"anyOf": [_TIME, {"type": "null"}]}
_STR_OR_NULL = {"type": ["string", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}
_NUM_OR_NULL = {"type": ["number", "null"]}
_CONFIDENCE = {"type": "number", "minimum": 0, "maximum": 1}
_COUNT = {"type": "integer", "minimum": 0}


def _obj(description: str, properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "description": description, "properties": properties}
    out["required"] = list(properties) if required is None else required
    return out


def _d(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**schema, "description": description}


_CITATION = _obj(
    "One line of evidence, quoted so a person can find it again.",
    {
        "file": _d(
            {"type": "string"},
            "The path the user gave; for a member of an archive, the archive path, '!', then the "
            "member path (bundle.tgz!var/run/log/vvold.log).",
        ),
        "line": _d(
            {"type": ["integer", "null"], "minimum": 1},
            "1-based line number in the (decompressed) file; null when the fact is not on one line "
            "(a certificate, a whole file).",
        ),
        "text": _d(
            {"type": "string", "maxLength": 400},
            "The cited text, trimmed to 400 characters (a trailing … marks a cut).",
        ),
    },
)

_COUNTS = _obj(
    "How many vvold lines of each kind were seen for this (host, provider).",
    {
        "issue": _d(_COUNT, "VASA operations issued ('===> Issuing')."),
        "success": _d(_COUNT, "Operations that ended in FINAL SUCCESS."),
        "failure": _d(_COUNT, "Operations that ended in FINAL FAILURE."),
        "no_free_conn": _d(
            _COUNT, "Waits for a free provider connection (GetFreeConn / 'No free connections')."
        ),
        "busy": _d(_COUNT, "PROVIDER_BUSY responses outside a FINAL line."),
        "timeout": _d(_COUNT, "Timeouts (TimedOut / TIMEOUT) outside a FINAL line."),
        "setcontext_failure": _d(_COUNT, "Failed setContext calls (session (re)establishment)."),
        "transport": _d(_COUNT, "Transport faults: TRANSPORT_FAULT, connection refused."),
        "ssl": _d(_COUNT, "TLS failures: handshake, certificate verification."),
        "bind_retry": _d(_COUNT, "bindVirtualVolume retries."),
    },
)

_PER_PROVIDER = _obj(
    "Totals for one provider as seen from one host's vvold.",
    {
        "host": _d(_STR_OR_NULL, "ESXi host whose vvold.log this comes from; null when unknown."),
        "vp": _d({"type": "string"}, "Provider name as vvold prints it."),
        "counts": _COUNTS,
        "ceiling": _d(
            _INT_OR_NULL,
            "The per-provider outstanding-operation limit vvold printed ('#outstanding n/max'); "
            "null when the log never showed it.",
        ),
        "max_outstanding": _d(_INT_OR_NULL, "Highest outstanding count seen."),
        "at_ceiling_seconds": _d(
            {"type": "number", "minimum": 0}, "How long the outstanding count sat at the ceiling."
        ),
        "create_latency_ms": _obj(
            "createVirtualVolume durations (timeElapsed of FINAL lines), in milliseconds.",
            {
                "count": _COUNT,
                "p50": _NUM_OR_NULL,
                "p95": _NUM_OR_NULL,
                "max": _NUM_OR_NULL,
            },
        ),
        "first": _d(_TIME_OR_NULL, "First line seen for this pair."),
        "last": _d(_TIME_OR_NULL, "Last line seen for this pair."),
    },
)

_TIMELINE_POINT = _obj(
    "One time bucket for one (host, provider). Buckets without any line may be absent.",
    {
        "t": _d(_TIME, "Start of the bucket."),
        "host": _STR_OR_NULL,
        "vp": {"type": "string"},
        "outstanding_max": _d(_INT_OR_NULL, "Highest '#outstanding' in the bucket; null if none printed."),
        "ceiling": _d(_INT_OR_NULL, "The provider ceiling in force during the bucket."),
        "no_free_conn": _COUNT,
        "busy": _COUNT,
        "timeout": _COUNT,
        "failure": _COUNT,
        "create_ms_max": _d(_NUM_OR_NULL, "Slowest createVirtualVolume finishing in the bucket (ms)."),
        "create_ms_p95": _d(_NUM_OR_NULL, "95th percentile of createVirtualVolume in the bucket (ms)."),
    },
)

_IN_FLIGHT = _obj(
    "Migrations running from one source host at time t (a step function: holds until the next "
    "point for the same host).",
    {"t": _TIME, "source_host": {"type": "string"}, "in_flight": _COUNT},
)

_SIGNALS = {
    "type": "object",
    "description": (
        "Control-plane signals, bounded in size whatever the input size. Either empty (no vvold "
        "evidence at all) or carrying all four keys, lists possibly empty."
    ),
    "anyOf": [
        {"maxProperties": 0},
        {"required": ["bucket_seconds", "per_provider", "timeline", "migrations_in_flight"]},
    ],
    "properties": {
        "bucket_seconds": _d(
            {"type": "integer", "minimum": 1},
            "Width of a timeline bucket, chosen so the timeline stays in the low thousands of points.",
        ),
        "per_provider": _d(
            {"type": "array", "items": _PER_PROVIDER}, "Totals per (host, provider) over the whole input."
        ),
        "timeline": _d(
            {"type": "array", "items": _TIMELINE_POINT}, "Per bucket and (host, provider), in time order."
        ),
        "migrations_in_flight": _d(
            {"type": "array", "items": _IN_FLIGHT}, "Concurrency per source host over time."
        ),
    },
}

_COVERAGE = _obj(
    "The time one host's evidence of one kind covers, and whether it covers the window a "
    "conclusion needed. A conclusion from absence (no VASA pressure, not-control-plane) is only "
    "drawn from vvold evidence whose covers_window is true.",
    {
        "host": _d(_STR_OR_NULL, "ESXi host; null for a file that names no host."),
        "kind": _d(
            {"type": "string"},
            "Evidence kind: vvold-log, hostd-log, vmkernel-log, esxcli-... (a snapshot), "
            "vcenter-sps-log, ...",
        ),
        "start": _d(_TIME_OR_NULL, "First time the evidence covers; null when the host gave none."),
        "end": _d(_TIME_OR_NULL, "Last time the evidence covers."),
        "files": _d({"type": "array", "items": {"type": "string"}}, "The files whose spans were joined."),
        "needed": _d(
            {
                "anyOf": [
                    {"type": "array", "prefixItems": [_TIME, _TIME], "items": False, "minItems": 2},
                    {"type": "null"},
                ]
            },
            "[start, end] the evidence had to cover: the failure window widened by "
            "thresholds.coverage_margin_seconds before it; null when nothing failed.",
        ),
        "covers_window": _d(
            {"type": ["boolean", "null"]}, "Whether the spans cover 'needed'; null when nothing was needed."
        ),
        "derived": _d(
            {"type": "boolean"},
            "True when the span was derived from the times of the lines read (the reader gave no span "
            "for the file): it can only be narrower than the file's true span.",
        ),
    },
    required=["host", "kind", "start", "end", "files", "needed", "covers_window"],
)

_NOTE = _obj(
    "A fact worth reporting that is not a failure class: a vvold restart, a source host inferred "
    "from an Enter-maintenance-mode task, concurrency counted at vCenter's admission limit, an "
    "export in local time aligned with the others.",
    {
        "kind": _d(
            {"type": "string", "enum": [k.value for k in NoteKind]},
            "What the note is about.",
        ),
        "text": {"type": "string"},
        "hosts": {"type": "array", "items": {"type": "string"}},
        "citations": {"type": "array", "items": _CITATION},
    },
    required=["kind", "text"],
)

_FINDING = _obj(
    "One conclusion with its evidence. Every finding cites at least one line, except "
    "insufficient-evidence, which points at missing_evidence instead.",
    {
        "id": _d(
            {"type": "string", "enum": [c.value for c in FailureClass]},
            "The failure class this finding argues for.",
        ),
        "title": _d({"type": "string"}, "One line a person reads first."),
        "severity": _d(
            {"type": "string", "enum": [s.value for s in Severity]},
            "How urgent, from info (nothing to do) to critical (act now).",
        ),
        "confidence": _d(_CONFIDENCE, "0..1: how sure the analysis is of this finding."),
        "reason": _d({"type": "string"}, "Why this class: the facts that decided it, in one line."),
        "citations": {"type": "array", "items": _CITATION, "description": "The evidence, quoted."},
        "next_moves": _d(
            {"type": "array", "items": {"type": "string"}},
            "What to do, in order, following the runbook for this class.",
        ),
        "hosts": _d({"type": "array", "items": {"type": "string"}}, "ESXi hosts involved."),
        "providers": _d({"type": "array", "items": {"type": "string"}}, "VASA providers involved."),
        "coverage": _d(
            {"type": "array", "items": _COVERAGE},
            "The host evidence this finding relied on and the time it covers (for not-control-plane, "
            "healthy and insufficient-evidence: the vvold coverage of the failures' hosts).",
        ),
    },
    required=[
        "id",
        "title",
        "severity",
        "confidence",
        "reason",
        "citations",
        "next_moves",
        "hosts",
        "providers",
    ],
)

_FAILED_MIGRATION = _obj(
    "A migration that failed, with what the control plane looked like around it.",
    {
        "task_id": _d(_STR_OR_NULL, "vCenter task key, e.g. task-4012."),
        "vm": _STR_OR_NULL,
        "source": _d(_STR_OR_NULL, "Source ESXi host."),
        "destination": _d(_STR_OR_NULL, "Destination ESXi host."),
        "time": _d(_TIME_OR_NULL, "When the task failed (or started, if its end is unknown)."),
        "error": _d(_STR_OR_NULL, "The task error as vCenter showed it."),
        "datastore": _STR_OR_NULL,
        "nearby_signals": _d(
            {
                "type": "object",
                "additionalProperties": {"type": "object", "additionalProperties": {"type": "number"}},
            },
            "Per host (source and destination): signal name -> value around the failure, e.g. "
            '{"esx-03": {"no_free_conn": 4, "busy": 2, "create_p95_ms": 41000}}.',
        ),
        "citation": {"anyOf": [_CITATION, {"type": "null"}]},
        "start": _d(_TIME_OR_NULL, "When the task started, if the evidence says."),
        "cause": _d(
            _STR_OR_NULL,
            "The fault outside the VASA control plane that the error (or a host fault near it) names, "
            "as vCenter spells it (FileTooLarge, InsufficientResourcesFault, InvalidState, NoPermission, "
            '...); null when it names none ("A system error occurred.").',
        ),
        "source_inferred_from": _d(
            _STR_OR_NULL,
            "How the source host was learnt when the migration's own records did not name it (an "
            "Enter-maintenance-mode task or event, the rest of its wave); null when they did.",
        ),
    },
    required=[
        "task_id",
        "vm",
        "source",
        "destination",
        "time",
        "error",
        "datastore",
        "nearby_signals",
    ],
)

_STORM = _obj(
    "A period when one source host had many migrations in flight at once.",
    {
        "source_host": {"type": "string"},
        "start": _TIME,
        "end": _TIME,
        "peak_concurrency": _COUNT,
        "migrations": _d(_COUNT, "Migrations that started in the window."),
        "failed": _d(_COUNT, "Of those, how many failed."),
    },
)

_MIGRATIONS = _obj(
    "Migration tasks seen in the vCenter exports and host logs.",
    {
        "total": _COUNT,
        "succeeded": _COUNT,
        "failed": _d({"type": "array", "items": _FAILED_MIGRATION}, "Every failed migration, in time order."),
        "peak_concurrency": _d(
            {"type": "object", "additionalProperties": _COUNT},
            "Per source host: the most migrations in flight at once.",
        ),
        "storms": _d({"type": "array", "items": _STORM}, "Detected migration storms."),
    },
)

_PROVIDER = _obj(
    "A VASA provider as the evidence shows it.",
    {
        "name": {"type": "string"},
        "url": _STR_OR_NULL,
        "status": _d(
            {"type": "object", "additionalProperties": {"type": "string"}},
            "Observer (an ESXi host name, or 'vcenter') -> status it reported (online, offline, "
            "syncError, ...).",
        ),
        "arrays": {"type": "array", "items": {"type": "string"}},
        "version": _STR_OR_NULL,
        "certificate": _d(
            {"type": ["object", "null"]},
            "What is known of its certificate: subject, not_after, days_left_at_incident, ...",
        ),
        "max_outstanding_seen": _INT_OR_NULL,
        "ceiling": _INT_OR_NULL,
    },
    required=["name", "url", "status"],
)

_PE = _obj(
    "A Protocol Endpoint as one host sees it (esxcli storage vvol protocolendpoint list).",
    {
        "pe_id": {"type": "string"},
        "host": _STR_OR_NULL,
        "array_id": _STR_OR_NULL,
        "accessible": {"type": ["boolean", "null"]},
        "configured": {"type": ["boolean", "null"]},
        "storage_containers": {"type": "array", "items": {"type": "string"}},
    },
    required=["pe_id", "host", "array_id", "accessible", "configured"],
)

_MISSING = _obj(
    "Evidence that would settle the diagnosis, and how to collect it.",
    {
        "artifact": _d(
            {"type": "string"}, "What to collect, e.g. 'esxcli storage vvol vasaprovider list (source host)'."
        ),
        "why": _d({"type": "string"}, "What it would settle."),
        "command": _d({"type": "string"}, "The command that collects it."),
    },
)

_WARNING = _obj(
    "Something a reader could not use, or (caveat) a caveat about input it did use; never fatal, "
    "the rest of the evidence still counts.",
    {
        "file": {"type": "string"},
        "line": {"type": ["integer", "null"]},
        "message": {"type": "string"},
        "caveat": _d(
            {"type": "boolean"},
            "True: the input was used and the message says what to keep in mind about it (e.g. "
            "times without a zone taken as UTC); false or absent: the input (or this line of it) "
            "could not be used.",
        ),
    },
    required=["file", "line", "message"],
)

_INPUT = _obj(
    "One file that was read.",
    {
        "file": {"type": "string"},
        "kind": _d({"type": "string"}, "What the file was recognised as (vvold-log, vcenter-tasks, ...)."),
        "host": _STR_OR_NULL,
        "records": _d(_COUNT, "Records read from it."),
    },
)

_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:vvolguard:schema:diagnosis:v1",
    "title": "vvolguard diagnosis (v1)",
    "description": (
        "What `vvolguard diagnose --json` prints: the verdict on why vVol migrations failed, the "
        "findings with their cited evidence, and the signals behind them. Documents may gain "
        "properties within v1; documented ones keep their names and meaning."
    ),
    "type": "object",
    "required": [
        "schema",
        "verdict",
        "findings",
        "providers",
        "protocol_endpoints",
        "signals",
        "migrations",
        "certificates",
        "missing_evidence",
        "warnings",
        "inputs",
        "hosts",
        "incident_window",
        "now",
        "thresholds",
    ],
    "properties": {
        "schema": _d({"const": SCHEMA_ID}, "Document type and version; check it before reading."),
        "verdict": _obj(
            "The one answer: which failure class, how sure, and in one sentence why.",
            {
                "class": _d(
                    {"type": "string", "enum": [c.value for c in FailureClass]},
                    "provider-saturation: the VASA provider ran out of connections under a migration "
                    "storm (KB 318662). provider-registration: provider offline, syncError, trust or "
                    "transport failure. pe-presentation: Protocol Endpoint inaccessible or not "
                    "configured. certificate-lifecycle: provider certificate expired or about to. "
                    "not-control-plane: vVol control plane healthy, look at vMotion network, host "
                    "load, DRS or the array data path. healthy: nothing wrong found. "
                    "insufficient-evidence: not enough evidence; see missing_evidence.",
                ),
                "confidence": _d(_CONFIDENCE, "0..1."),
                "summary": _d({"type": "string"}, "One sentence for a person."),
            },
        ),
        "findings": _d(
            {"type": "array", "items": _FINDING},
            "Every conclusion, the verdict's own first when present (its id equals verdict.class).",
        ),
        "providers": _d(
            {"type": "array", "items": _PROVIDER},
            "Every VASA provider named by the evidence, with its status as each observer saw it.",
        ),
        "protocol_endpoints": _d(
            {"type": "array", "items": _PE},
            "Protocol Endpoints per host; an inaccessible or unconfigured one means pe-presentation.",
        ),
        "signals": _SIGNALS,
        "migrations": _MIGRATIONS,
        "certificates": _d(
            {"type": "array", "items": {"type": "object"}},
            "Provider certificates seen (subject, issuer, not_after, days_left, file, ...).",
        ),
        "missing_evidence": _d(
            {"type": "array", "items": _MISSING},
            "What to collect next to make the verdict surer, each with the command that collects it.",
        ),
        "warnings": _d(
            {"type": "array", "items": _WARNING}, "All reader warnings (the terminal shows a few)."
        ),
        "inputs": _d({"type": "array", "items": _INPUT}, "Every file read, with what it was taken for."),
        "hosts": _d({"type": "array", "items": {"type": "string"}}, "Every ESXi host in the evidence."),
        "incident_window": _d(
            {
                "anyOf": [
                    {"type": "array", "prefixItems": [_TIME, _TIME], "items": False, "minItems": 2},
                    {"type": "null"},
                ]
            },
            "[start, end] of the period analysed; null when the evidence has no times.",
        ),
        "now": _d(_TIME_OR_NULL, "The 'now' the analysis used (certificate days left are counted from it)."),
        "thresholds": _d(
            {"type": "object", "additionalProperties": {"type": "number"}},
            "The named thresholds in force (defaults or overrides), so a verdict can be reproduced.",
        ),
        "coverage": _d(
            {"type": "array", "items": _COVERAGE},
            "Per host and evidence kind, the time the evidence covers and whether it covers the failure "
            "window.",
        ),
        "notes": _d({"type": "array", "items": _NOTE}, "Facts worth reporting that are not findings."),
        "watch": _d(
            {
                "anyOf": [
                    {
                        "description": "Watch's coverage of the window and what it saw.",
                        "type": "object",
                        "required": ["store", "window", "covers_window", "saw", "cannot_conclude"],
                        "properties": {
                            "store": {"type": "string"},
                            "window": {"type": "array", "prefixItems": [_TIME, _TIME], "items": False},
                            "covers_window": _d(
                                {"type": "boolean"}, "True when watch runs were listening through all of it."
                            ),
                            "covered_seconds": {"type": "number"},
                            "window_seconds": {"type": "number"},
                            "gaps": {"type": "array", "items": {"type": "array", "items": _TIME}},
                            "runs": {"type": "array", "items": {"type": "object"}},
                            "hosts": {"type": "array", "items": {"type": "object"}},
                            "changes": {"type": "array", "items": {"type": "object"}},
                            "saw": _d({"type": "array", "items": {"type": "string"}}, "What watch saw."),
                            "calm_hosts": _d(
                                {"type": "array", "items": {"type": "string"}},
                                "Hosts whose vvold lines reached watch through the whole covered window "
                                "with no pressure: the only hosts watch calls calm.",
                            ),
                            "cannot_conclude": _d(
                                {"type": "array", "items": {"type": "string"}},
                                "What watch could not see (uncovered time, hosts heard in part or not "
                                "from vvold).",
                            ),
                        },
                    },
                    {"type": "null"},
                ]
            },
            "diagnose --since: what vvolguard watch saw in the window, from the local store, and "
            "what it cannot conclude; null when --since was not given.",
        ),
    },
}


def diagnosis_schema() -> dict[str, Any]:
    """A fresh copy of the schema (callers may mutate it)."""
    return copy.deepcopy(_SCHEMA)
