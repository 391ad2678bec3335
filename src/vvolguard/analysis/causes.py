"""Causes named outside the VASA control plane: one table of task-error patterns and host faults.

A failed migration whose own error names another cause (the file is too large for the
datastore, the switchover took too long, the vMotion network dropped, admission control refused,
the VM was in the wrong state, a permission was missing) is not explained by VASA pressure, and
needs no vvold.log to say so: the error itself is the positive evidence for ``not-control-plane``.
vCenter's bare "A system error occurred." names nothing, and stays for the control-plane rows.

The table is data, each row with the fault name vCenter uses (``vim.fault.FileTooLarge``, ...)
and the English messages it shows, so a reviewer can check it against the sources in one place
(docs/evidence-formats.md §1.11, §4.2, §6.1; KB 307365 for the switchover timer). Every pattern is a plain
alternation of literals (linear time whatever the input).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from vvolguard.analysis.migrations import host_key
from vvolguard.records import HostEventKind, HostLogEvent, MigrationTask

if TYPE_CHECKING:
    from vvolguard.analysis.facts import Facts


class OutsideCause(StrEnum):
    """A cause outside the VASA control plane, as named by a task error or a host fault."""

    FILE_TOO_LARGE = "file-too-large"
    SWITCHOVER = "switchover-exceeded"
    DESTINATION_RESUME = "destination-failed-resume"
    VMOTION_NETWORK = "vmotion-network"
    INSUFFICIENT_RESOURCES = "insufficient-resources"
    INVALID_STATE = "invalid-state"
    NO_PERMISSION = "no-permission"


@dataclass(frozen=True)
class CauseRule:
    cause: OutsideCause
    fault: str  # the fault name vCenter uses
    label: str  # what a person reads in a finding
    pattern: re.Pattern[str]


def _any(*literals: str) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(x) for x in literals), re.IGNORECASE)


#: Task error text -> cause. First match wins, so the more specific rows come first.
CAUSE_TABLE: tuple[CauseRule, ...] = (
    CauseRule(
        OutsideCause.FILE_TOO_LARGE,
        "FileTooLarge",
        "file too large for the datastore / config vVol",
        _any(
            "FileTooLarge",
            "is larger than the maximum size supported by datastore",
            "larger than the maximum size supported",
            "file is too large",
            "too large for the datastore",
        ),
    ),
    CauseRule(
        OutsideCause.SWITCHOVER,
        "SystemError (switchover)",
        "vMotion switchover time exceeded (fsr.maxSwitchoverSeconds, KB 307365)",
        _any("Maximum switchover time", "switchover time for migration exceeded", "0xbad0109"),
    ),
    CauseRule(
        OutsideCause.DESTINATION_RESUME,
        "SystemError (destination failed to resume)",
        "destination failed to resume after switchover (KB 307365)",
        _any("destination failed to resume"),
    ),
    CauseRule(
        OutsideCause.VMOTION_NETWORK,
        "MigrationFault (vMotion network)",
        "vMotion network error",
        _any(
            "vMotion network",
            "did not receive data from the source host",
            "Failed waiting for data",
            "Connection reset by peer",
            "Failed to connect to remote host",
            "network is unreachable",
            "No route to host",
            "migration was unable to connect",
        ),
    ),
    CauseRule(
        OutsideCause.INSUFFICIENT_RESOURCES,
        "InsufficientResourcesFault",
        "admission control / insufficient resources",
        _any(
            "InsufficientResourcesFault",
            "InsufficientHostCapacityFault",
            "InsufficientMemoryResourcesFault",
            "InsufficientCpuResourcesFault",
            "InsufficientFailoverResourcesFault",
            "Insufficient resources",
            "admission control",
            "insufficient capacity",
        ),
    ),
    CauseRule(
        OutsideCause.INVALID_STATE,
        "InvalidState",
        "operation not allowed in the current state",
        _any(
            "InvalidState",
            "InvalidPowerState",
            "InvalidHostState",
            "not allowed in the current state",
            "cannot be performed in the current state",
        ),
    ),
    CauseRule(
        OutsideCause.NO_PERMISSION,
        "NoPermission",
        "missing permission",
        _any("NoPermission", "Permission to perform this operation was denied", "does not have permission"),
    ),
)

#: Host faults (hostd/vmkernel) that name a cause outside VASA, with the cause they name.
HOST_EVENT_CAUSES: dict[HostEventKind, OutsideCause] = {
    HostEventKind.FILE_TOO_LARGE: OutsideCause.FILE_TOO_LARGE,
    HostEventKind.CONFIG_VVOL_LIMIT: OutsideCause.FILE_TOO_LARGE,
    HostEventKind.SWITCHOVER_EXCEEDED: OutsideCause.SWITCHOVER,
    HostEventKind.DEST_FAILED_RESUME: OutsideCause.DESTINATION_RESUME,
    HostEventKind.VMOTION_NETWORK: OutsideCause.VMOTION_NETWORK,
    HostEventKind.INSUFFICIENT_RESOURCES: OutsideCause.INSUFFICIENT_RESOURCES,
    HostEventKind.INVALID_STATE: OutsideCause.INVALID_STATE,
    HostEventKind.NO_PERMISSION: OutsideCause.NO_PERMISSION,
}

_BY_CAUSE = {rule.cause: rule for rule in CAUSE_TABLE}


def classify_error(text: str | None) -> CauseRule | None:
    """The outside cause a task's error text names, or None (including the bare "A system error
    occurred.", which names nothing)."""
    if not text:
        return None
    clipped = text[:4000]
    return next((rule for rule in CAUSE_TABLE if rule.pattern.search(clipped)), None)


def rule_for(cause: OutsideCause) -> CauseRule:
    return _BY_CAUSE[cause]


def explain_failures(
    f: Facts,
    failed: list[MigrationTask],
    host_events: Mapping[HostEventKind, list[HostLogEvent]],
    nearby_seconds: float,
) -> dict[int, str]:
    """Which failures name a cause outside the VASA control plane: the task's own error text
    (:data:`CAUSE_TABLE`), else a host fault of such a kind on its source or destination within
    ``nearby_seconds`` of its time. Fills ``f.named_causes``, ``f.explained_failures`` and
    ``f.unexplained_failures``; returns id(task) -> vCenter fault name for the explained ones.
    Without failed tasks, the host-side vMotion failures (``f.host_failures``) are judged."""
    events = sorted(
        (e for kind in HOST_EVENT_CAUSES for e in host_events.get(kind, [])),
        key=lambda e: (e.ts, e.citation.file, e.citation.line or 0),
    )
    window = timedelta(seconds=nearby_seconds)
    out: dict[int, str] = {}
    for task in failed:
        rule = classify_error(task.error)
        cite = task.citation
        if rule is None:
            when = task.end or task.start
            hosts = {host_key(task.source_host), host_key(task.dest_host)} - {""}
            event = next(
                (
                    e
                    for e in events
                    if when is not None
                    and abs(e.ts - when) <= window
                    and (not hosts or not e.host or host_key(e.host) in hosts)
                ),
                None,
            )
            if event is not None:
                rule, cite = rule_for(HOST_EVENT_CAUSES[event.kind]), event.citation
        if rule is None:
            f.unexplained_failures += 1
            continue
        f.explained_failures += 1
        out[id(task)] = rule.fault
        f.named_causes.append((rule.label, rule.fault, cite))
    if not failed:
        for event in f.host_failures:
            cause = HOST_EVENT_CAUSES.get(event.kind)
            if cause is None:
                f.unexplained_failures += 1
            else:
                f.explained_failures += 1
                rule = rule_for(cause)
                f.named_causes.append((rule.label, rule.fault, event.citation))
    return out
