"""Readers for vCenter's record of migrations: task exports and migration events.

Why: the symptom an admin sees is in vCenter ("A general system error occurred", "A system error
occurred."), and the analysis needs each failed and successful vMotion with its time window to
line them up with vvold pressure on the hosts. Two readers:

* :class:`TaskExportReader` (``vcenter-tasks``): the vSphere Client Tasks CSV export
  (evidence-formats §4.4; header-driven, any subset and order of columns, browser-locale dates)
  and PowerCLI ``Get-Task`` as ``ConvertTo-Json`` or ``Export-Csv`` (§4.2).
* :class:`EventExportReader` (``vcenter-events``): ``Get-VIEvent | ConvertTo-Json`` (§4.3), where
  one migration is several events (begin, then migrated or failed) joined by ``ChainId``.

Only migration-like tasks and events become :class:`MigrationTask` records; the rest of a task
list (power-ons, snapshots) is not evidence for this tool and is dropped silently. What an export
does not say (a task export rarely names the source host) stays ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vvolguard.evidence.source import EvidenceFile
from vvolguard.evidence.structured import (
    Dates,
    GuardedReader,
    LineIndex,
    Warner,
    cite_text,
    first,
    first_data_line,
    guess_dayfirst,
    head_text,
    is_csv_header,
    iter_csv_rows,
    iter_json_items,
    looks_like_json,
    name_of,
    norm_dict,
    norm_key,
    read_text,
    text_of,
)
from vvolguard.records import Citation, EvidenceKind, MigrationTask, Record, TaskState

# --------------------------------------------------------------------------------------------
# What counts as a migration
# --------------------------------------------------------------------------------------------

#: TaskInfo.descriptionId values of migrations (evidence-formats §4.2).
MIGRATION_DESCRIPTION_IDS = frozenset(
    {"virtualmachine.relocate", "virtualmachine.migrate", "drm.executevmotionlro"}
)
_MIGRATION_WORDS = re.compile(r"relocat|migrat|vmotion", re.IGNORECASE)
#: Pre-checks and queries mention migration but move nothing.
_NOT_A_MOVE = re.compile(r"check|query|recommend|cancel", re.IGNORECASE)


def is_migration(*names: str | None) -> bool:
    present = [n for n in names if n]
    if not present:
        return False
    if any(n.lower() in MIGRATION_DESCRIPTION_IDS for n in present):
        return True
    return any(_MIGRATION_WORDS.search(n) for n in present) and not any(
        _NOT_A_MOVE.search(n) for n in present
    )


_STATE_BY_NUMBER = (TaskState.QUEUED, TaskState.RUNNING, TaskState.SUCCESS, TaskState.ERROR)
_STATE_WORDS = {
    "completed": TaskState.SUCCESS,
    "complete": TaskState.SUCCESS,
    "success": TaskState.SUCCESS,
    "succeeded": TaskState.SUCCESS,
    "successful": TaskState.SUCCESS,
    "completedsuccessfully": TaskState.SUCCESS,
    "queued": TaskState.QUEUED,
    "pending": TaskState.QUEUED,
    "waiting": TaskState.QUEUED,
    "running": TaskState.RUNNING,
    "inprogress": TaskState.RUNNING,
    "started": TaskState.RUNNING,
    "error": TaskState.ERROR,
    "failed": TaskState.ERROR,
    "failure": TaskState.ERROR,
}
_ERRORISH = re.compile(
    r"error|fault|fail|cannot|unable|timed out|timeout|not responding|denied", re.IGNORECASE
)


def task_state(value: object) -> tuple[TaskState, str | None]:
    """A task state from a Status column, a State enum (text or 0..3), or an error message.

    The vSphere Client puts the error itself in Status ("A general system error occurred: ..."),
    so an error-like text is both the state and the error.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return (_STATE_BY_NUMBER[value], None) if 0 <= value < 4 else (TaskState.UNKNOWN, None)
    text = text_of(value)
    if text is None:
        return TaskState.UNKNOWN, None
    key = norm_key(text)
    if key.isdigit() and len(key) == 1 and int(key) < 4:
        return _STATE_BY_NUMBER[int(key)], None
    if key in _STATE_WORDS:
        return _STATE_WORDS[key], None
    if key in ("canceled", "cancelled"):
        return TaskState.ERROR, text
    if re.fullmatch(r"\d{1,3}\s*%", text):
        return TaskState.RUNNING, None
    if _ERRORISH.search(text):
        return TaskState.ERROR, text
    return TaskState.UNKNOWN, None


_DEST_IN_TEXT = re.compile(
    r"(?:\bto|destination)\s+host\s*:?\s*['\"]?(?P<host>[A-Za-z0-9][\w.-]*[A-Za-z0-9])", re.IGNORECASE
)


def _dest_from_details(details: str | None) -> str | None:
    if not details:
        return None
    match = _DEST_IN_TEXT.search(details)
    return match.group("host") if match else None


def _task_id(value: object) -> str | None:
    """``Task-task-12345`` (PowerCLI Id) -> ``task-12345`` (the vSphere key events refer to)."""
    text = text_of(value)
    if text is None:
        return None
    return text[5:] if text.lower().startswith("task-task-") else text


# --------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------

_TASK_TYPE_LINE = re.compile(r"^#TYPE\s+VMware\.VimAutomation\.\S*Task", re.MULTILINE | re.IGNORECASE)
_TASK_JSON_KEYS = re.compile(
    r'"(?:PercentComplete|IsCancelable|FinishTime|DescriptionId|EventChainId|QueueTime|CompleteTime'
    r'|EntityName)"\s*:',
    re.IGNORECASE,
)
_TASK_COLUMNS = (
    {"taskname"},
    {"target", "entityname"},
    {"starttime"},
    {"completiontime", "finishtime", "completetime"},
    {"initiator"},
    {"queuedfor", "queuetime"},
    {"details"},
    {"percentcomplete"},
    {"iscancelable"},
    {"descriptionid"},
    {"state"},
    {"objectid"},
)


@dataclass(frozen=True)
class _TaskFields:
    """The columns/properties of one task after alias resolution."""

    name: str | None
    description: str | None
    description_id: str | None
    target: str | None
    status: object
    details: str | None
    start: object
    end: object
    task_id: str | None
    chain: str | None
    source: str | None
    dest: str | None
    datastore: str | None


def _task_fields(d: dict[str, Any]) -> _TaskFields:
    ext = norm_dict(d.get("extensiondata"))
    info = norm_dict(ext.get("info")) or norm_dict(d.get("info"))
    error = info.get("error")
    error_text = (
        text_of(first(norm_dict(error), "localizedmessage", "message")) if isinstance(error, dict) else None
    )
    if error_text is None and isinstance(error, str) and not error.startswith("VMware."):
        error_text = text_of(error)
    details = text_of(first(d, "details", "detail", "error", "errormessage", "message")) or error_text
    return _TaskFields(
        name=text_of(first(d, "taskname", "name", "task", "operation")) or text_of(info.get("name")),
        description=text_of(first(d, "description", "descriptionmessage")),
        description_id=text_of(first(d, "descriptionid")) or text_of(info.get("descriptionid")),
        target=text_of(first(d, "target", "entityname", "entity", "vm", "virtualmachine", "objectname"))
        or text_of(info.get("entityname"))
        or text_of(d.get("objectid")),
        status=first(d, "status", "state") if first(d, "status", "state") is not None else info.get("state"),
        details=details,
        start=first(d, "starttime", "start", "started") or info.get("starttime"),
        end=first(d, "completiontime", "finishtime", "completetime", "endtime", "end", "finished")
        or info.get("completetime"),
        task_id=_task_id(first(d, "id", "key", "taskid", "taskkey") or info.get("key")),
        chain=text_of(first(d, "eventchainid", "chainid") or info.get("eventchainid")),
        source=text_of(first(d, "sourcehost", "source", "fromhost")),
        dest=text_of(first(d, "destinationhost", "desthost", "destination", "targethost", "tohost")),
        datastore=text_of(first(d, "datastore", "destinationdatastore")),
    )


def _migration_from_task(
    ef: EvidenceFile, d: dict[str, Any], line: int, cite: str, dates: Dates
) -> MigrationTask | None:
    f = _task_fields(d)
    if not is_migration(f.name, f.description, f.description_id):
        return None
    state, status_error = task_state(f.status)
    error = status_error
    if state is TaskState.ERROR and f.details and (error is None or norm_key(error) in ("failed", "error")):
        error = f.details
    if state is TaskState.ERROR and error is None:
        error = text_of(f.status)
    return MigrationTask(
        task_id=f.task_id,
        vm=f.target,
        source_host=f.source,
        dest_host=f.dest or _dest_from_details(f.details),
        state=state,
        start=dates(f.start, line, "start time"),
        end=dates(f.end, line, "completion time"),
        error=error,
        datastore=f.datastore,
        description_id=f.description_id,
        event_chain_id=f.chain,
        citation=Citation(file=ef.display, line=line, text=cite),
    )


class TaskExportReader(GuardedReader):
    """vSphere Client Tasks CSV, or PowerCLI ``Get-Task`` as JSON or CSV."""

    kind = EvidenceKind.VCENTER_TASKS

    def sniff(self, name: str, head: bytes) -> int:
        text = head_text(head[:65536])
        base = norm_key(name)
        named = "task" in base
        if _TASK_TYPE_LINE.search(text):
            return 98
        score = 0
        if looks_like_json(text):
            if len({norm_key(m.group(0)) for m in _TASK_JSON_KEYS.finditer(text)}) >= 2:
                score = 80
        else:
            header = first_data_line(text)
            if is_csv_header(header, _TASK_COLUMNS, minimum=3):
                score = 85
            elif is_csv_header(header, _TASK_COLUMNS, minimum=2) and named:
                score = 60
        return min(score + 8, 95) if score and named else score

    def _read(self, ef: EvidenceFile, warn: Warner) -> Iterator[Record]:
        text = read_text(ef, warn)
        if text is None:
            return
        if not text.strip():
            warn("empty task export")
            return
        if looks_like_json(text):
            dates = Dates(warn)
            for line, item in iter_json_items(text, warn, LineIndex(text)):
                if not isinstance(item, dict):
                    warn(f"JSON entry is a {type(item).__name__}, not a task; skipped", line)
                    continue
                task = _migration_from_task(ef, norm_dict(item), line, cite_text(item), dates)
                if task is not None:
                    yield task
            return
        parsed = iter_csv_rows(text, warn)
        if parsed is None:
            warn("neither JSON nor a CSV header; nothing read")
            return
        header, rows = parsed
        if not {"taskname", "name", "description", "descriptionid"} & {norm_key(h) for h in header}:
            warn("CSV header names no task column (Task Name, Name, Description); nothing read", 1)
            return
        materialised = list(rows)
        dates = Dates(warn, _dayfirst(materialised, ("starttime", "start", "completiontime", "finishtime")))
        for line, row, raw in materialised:
            task = _migration_from_task(ef, row, line, raw, dates)
            if task is not None:
                yield task


def _dayfirst(rows: list[tuple[int, dict[str, str], str]], columns: Iterable[str]) -> bool | None:
    cols = tuple(columns)
    return guess_dayfirst(row.get(c, "") for _, row, _ in rows for c in cols)


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------

BEGIN, SUCCESS, FAILURE = "begin", "success", "failure"

_EVENT_TYPES = {
    "vmmigratedevent": SUCCESS,
    "drsvmmigratedevent": SUCCESS,
    "vmrelocatedevent": SUCCESS,
    "vmfailedmigrateevent": FAILURE,
    "vmrelocatefailedevent": FAILURE,
    "vmbeinghotmigratedevent": BEGIN,
    "vmbeingmigratedevent": BEGIN,
    "vmbeingrelocatedevent": BEGIN,
    "vmemigratingevent": BEGIN,
}

#: vCenter's English event messages (§4.3), used when fields are missing (CSV, shallow JSON).
_MESSAGES = (
    (
        SUCCESS,
        re.compile(
            r"Migration of virtual machine (?P<vm>.+?) from (?P<src>[^,]+), (?P<sds>.+?) "
            r"to (?P<dst>[^,]+), (?P<dds>.+?) completed",
            re.IGNORECASE,
        ),
    ),
    (SUCCESS, re.compile(r"DRS migrated (?P<vm>.+?) from (?P<src>\S+) to (?P<dst>\S+)", re.IGNORECASE)),
    (
        FAILURE,
        re.compile(
            r"(?:Cannot migrate|Failed to migrate|Failed to relocate|Cannot relocate) (?P<vm>.+?) from "
            r"(?P<src>[^,]+), (?P<sds>[^,]+?)(?: in [^,]+?)? to (?P<dst>[^,]+), (?P<dds>.+?)(?: in |$)",
            re.IGNORECASE,
        ),
    ),
    (
        FAILURE,
        re.compile(
            r"(?:Cannot migrate|Failed to migrate|Failed to relocate|Cannot relocate) (?P<vm>\S+)", re.I
        ),
    ),
    (
        BEGIN,
        re.compile(
            r"^(?:Hot migrating|Migrating|Relocating) (?P<vm>.+?) from (?P<src>[^,]+), (?P<sds>[^,]+?)"
            r"(?: in [^,]+?)? to (?P<dst>[^,]+), (?P<dds>.+?)(?: in |$)",
            re.IGNORECASE,
        ),
    ),
    (BEGIN, re.compile(r"^Migrating (?P<vm>.+?) off host (?P<src>\S+)", re.IGNORECASE)),
)


#: vCenter event messages are one sentence; matching past this would only cost time on junk.
MAX_MESSAGE = 2000


@dataclass(frozen=True)
class MigrationEvent:
    """One migration-related event, before events of the same migration are joined."""

    phase: str  # BEGIN / SUCCESS / FAILURE
    line: int
    cite: str
    time: datetime | None
    chain: str | None
    vm: str | None
    source: str | None
    dest: str | None
    datastore: str | None
    reason: str | None


def _event_type(d: dict[str, Any], envelope: dict[str, Any]) -> str | None:
    for source in (d, envelope):
        value = text_of(first(source, "type", "eventtypeid", "eventtype", "vimtype", "class", "odatatype"))
        if value is None:
            value = text_of(first(source, "subject"))
        if value:
            # "VMware.Vim.VmMigratedEvent, VMware.Vim" / "vim.event.VmMigratedEvent" -> the class
            name = norm_key(value.split(",")[0].rsplit(".", 1)[-1])
            # the vSphere Client's "Type" column is a severity (Information, Error), not a class
            if name.endswith("event") or "migrat" in name or "relocat" in name:
                return name
    return None


def _unwrap(item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """CloudEvents (VMware Event Broker) put the vSphere event under ``data``."""
    d = norm_dict(item)
    data = d.get("data")
    if isinstance(data, dict) and ("subject" in d or "specversion" in d):
        return norm_dict(data), d
    return d, {}


def _reason(d: dict[str, Any]) -> str | None:
    for key in ("reason", "fault", "error"):
        value = d.get(key)
        if isinstance(value, dict):
            inner = norm_dict(value)
            text = text_of(first(inner, "localizedmessage", "message", "msg"))
            if text is None and isinstance(inner.get("fault"), dict):
                fault = norm_dict(inner["fault"])
                text = text_of(first(fault, "faultmessage", "msg", "message"))
            if text:
                return text
        elif isinstance(value, str) and value and not value.startswith("VMware."):
            return value
    return None


def migration_event(
    d: dict[str, Any], envelope: dict[str, Any], line: int, raw: object, dates: Dates
) -> MigrationEvent | None:
    """Classify one event (normalised keys); ``None`` when it is not about a migration.

    ``raw`` is the entry as read (a CSV line or the JSON object); it is rendered for the citation
    only when the event has no message, so the many unrelated events in an export cost little.
    """
    message = text_of(first(d, "fullformattedmessage", "message", "description", "formattedmessage"))
    etype = _event_type(d, envelope)
    phase = _EVENT_TYPES.get(etype) if etype else None
    if etype and phase is None and "migrat" not in etype and "relocat" not in etype:
        return None  # a typed event that is not a migration (power-on, alarm, login, ...)
    if phase is None:
        if first(d, "sourcehost") is not None:
            phase = SUCCESS
        elif first(d, "desthost") is not None:
            phase = FAILURE if first(d, "reason") is not None else BEGIN
    matched: re.Match[str] | None = None
    for msg_phase, pattern in _MESSAGES:
        found = pattern.search(message[:MAX_MESSAGE]) if message else None
        if found and (phase is None or phase == msg_phase):
            phase, matched = msg_phase, found
            break
    if phase is None:
        return None
    groups = matched.groupdict() if matched else {}
    host = name_of(d.get("host"))
    if phase == SUCCESS:
        source = name_of(d.get("sourcehost")) or groups.get("src")
        dest = host or groups.get("dst")
        datastore = name_of(d.get("ds")) or groups.get("dds")
    else:
        source = host or groups.get("src")
        dest = name_of(first(d, "desthost", "dsthost", "destinationhost")) or groups.get("dst")
        datastore = name_of(first(d, "destdatastore")) or name_of(d.get("ds")) or groups.get("dds")
    return MigrationEvent(
        phase=phase,
        line=line,
        cite=message or (raw if isinstance(raw, str) else cite_text(raw)),
        time=dates(first(d, "createdtime", "datetime", "time", "date", "created"), line, "event time"),
        chain=text_of(first(d, "chainid", "eventchainid")),
        vm=name_of(first(d, "vm", "target", "vmname")) or groups.get("vm"),
        source=source,
        dest=dest,
        datastore=datastore,
        reason=_reason(d) if phase == FAILURE else None,
    )


def task_of_chain(d: dict[str, Any]) -> tuple[str, str | None, str | None] | None:
    """``(chain, task key, descriptionId)`` from a TaskEvent, whose ``Info`` copies the TaskInfo.

    This is what lets an event export be merged with a task export of the same migration.
    """
    info = norm_dict(d.get("info"))
    chain = text_of(first(d, "chainid")) or text_of(info.get("eventchainid"))
    key = _task_id(first(info, "key", "task"))
    if not chain or not key or not key.lower().startswith("task-"):
        return None
    description_id = text_of(info.get("descriptionid"))
    name = text_of(info.get("name"))
    if not is_migration(name, description_id):
        return None
    return chain, key, description_id


def join_events(
    ef: EvidenceFile,
    events: list[MigrationEvent],
    chain_tasks: dict[str, tuple[str, str | None]] | None = None,
) -> Iterator[MigrationTask]:
    """One MigrationTask per migration: events with the same ChainId belong to one task.

    Start comes from the begin event, end and outcome from the completion or failure event; an
    event without a ChainId stands alone. ``chain_tasks`` (from TaskEvents) names the task.
    """
    chain_tasks = chain_tasks or {}
    groups: dict[str, list[MigrationEvent]] = {}
    for i, event in enumerate(events):
        groups.setdefault(event.chain or f"#line{event.line}#{i}", []).append(event)
    tasks: list[MigrationTask] = []
    for members in groups.values():
        begins = sorted((e for e in members if e.phase == BEGIN), key=_when)
        outcomes = sorted((e for e in members if e.phase != BEGIN), key=_when)
        begin = begins[0] if begins else None
        outcome = next((e for e in reversed(outcomes) if e.phase == FAILURE), None) or (
            outcomes[-1] if outcomes else None
        )
        main = outcome or begin
        assert main is not None  # every group has at least one member
        state = (
            TaskState.RUNNING
            if outcome is None
            else TaskState.SUCCESS
            if outcome.phase == SUCCESS
            else TaskState.ERROR
        )
        error = None
        if outcome is not None and outcome.phase == FAILURE:
            error = outcome.reason or outcome.cite

        def pick(attr: str, order: tuple[MigrationEvent | None, ...]) -> str | None:
            return next((getattr(e, attr) for e in order if e is not None and getattr(e, attr)), None)

        order = (outcome, begin)
        task_key, description_id = chain_tasks.get(main.chain or "", (None, None))
        tasks.append(
            MigrationTask(
                task_id=task_key,
                vm=pick("vm", order),
                source_host=pick("source", order),
                dest_host=pick("dest", order),
                state=state,
                start=begin.time if begin else None,
                end=outcome.time if outcome else None,
                error=error,
                datastore=pick("datastore", order),
                description_id=description_id,
                event_chain_id=main.chain,
                citation=Citation(file=ef.display, line=main.line, text=main.cite),
            )
        )
    tasks.sort(key=lambda t: t.citation.line if t.citation and t.citation.line else 0)
    yield from tasks


def _when(event: MigrationEvent) -> tuple[bool, datetime | None, int]:
    return (event.time is None, event.time, event.line)


_EVENT_TYPE_LINE = re.compile(r"^#TYPE\s+VMware\.Vim\.\w*Event\b", re.MULTILINE)
_EVENT_JSON = re.compile(r'"FullFormattedMessage"\s*:', re.IGNORECASE)
_EVENT_JSON_OTHER = re.compile(r'"(?:ChainId|CreatedTime)"\s*:', re.IGNORECASE)
_CLOUD_EVENT = re.compile(
    r'"specversion"\s*:.*?"subject"\s*:\s*"Vm\w*(?:Migrat|Relocat)', re.IGNORECASE | re.DOTALL
)
_EVENT_COLUMNS = (
    {"description", "message", "fullformattedmessage"},
    {"datetime", "createdtime", "time", "date"},
    {"type", "eventtype", "eventtypeid"},
    {"chainid", "eventchainid"},
    {"user", "username"},
    {"vm", "target"},
)


class EventExportReader(GuardedReader):
    """``Get-VIEvent | ConvertTo-Json`` (also CloudEvents from the Event Broker, and event CSVs)."""

    kind = EvidenceKind.VCENTER_EVENTS

    def sniff(self, name: str, head: bytes) -> int:
        text = head_text(head[:65536])
        named = "event" in norm_key(name)
        if _EVENT_TYPE_LINE.search(text):
            return 95
        score = 0
        if looks_like_json(text):
            if _EVENT_JSON.search(text) and _EVENT_JSON_OTHER.search(text):
                score = 88
            elif _CLOUD_EVENT.search(text):
                score = 80
        else:
            header = first_data_line(text)
            if is_csv_header(header, _EVENT_COLUMNS[:2], minimum=2) and is_csv_header(
                header, _EVENT_COLUMNS, 3
            ):
                score = 70
        return min(score + 7, 95) if score and named else score

    def _read(self, ef: EvidenceFile, warn: Warner) -> Iterator[Record]:
        text = read_text(ef, warn)
        if text is None:
            return
        if not text.strip():
            warn("empty event export")
            return
        events: list[MigrationEvent] = []
        chain_tasks: dict[str, tuple[str, str | None]] = {}
        if looks_like_json(text):
            dates = Dates(warn)
            for line, item in iter_json_items(text, warn, LineIndex(text)):
                if not isinstance(item, dict):
                    warn(f"JSON entry is a {type(item).__name__}, not an event; skipped", line)
                    continue
                d, envelope = _unwrap(item)
                named = task_of_chain(d)
                if named is not None:
                    chain_tasks[named[0]] = named[1:]
                    continue
                event = migration_event(d, envelope, line, item, dates)
                if event is not None:
                    events.append(event)
        else:
            parsed = iter_csv_rows(text, warn)
            if parsed is None:
                warn("neither JSON nor a CSV header; nothing read")
                return
            if not {"description", "message", "fullformattedmessage"} & {norm_key(h) for h in parsed[0]}:
                warn("CSV header names no event message column (Description, Message); nothing read", 1)
                return
            rows = list(parsed[1])
            dates = Dates(warn, _dayfirst(rows, ("datetime", "createdtime", "time", "date")))
            for line, row, raw in rows:
                event = migration_event(row, {}, line, raw, dates)
                if event is not None:
                    events.append(event)
        yield from join_events(ef, events, chain_tasks)


READERS = [TaskExportReader(), EventExportReader()]
