"""Reader for vCenter's event exports: migrations and maintenance mode told as events.

Why: ``Get-VIEvent | ConvertTo-Json`` (docs/evidence-formats.md §4.3), CloudEvents from the
VMware Event Broker and the vSphere Client's event CSVs hold the same migrations as a task
export, told differently: one migration is several events (begin, then migrated or failed) joined
by ``ChainId``. :class:`EventExportReader` (``vcenter-events``) joins them into one
:class:`MigrationTask` per migration and one :class:`HostOperation` per maintenance-mode
operation, named by the task their TaskEvent copies, so they merge with a task export of the same
migrations. What the task and event readers share is in :mod:`vvolguard.evidence.vcenter_exports`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vvolguard.evidence.csvrows import first_data_line, is_csv_header, iter_csv_rows
from vvolguard.evidence.dates import Dates
from vvolguard.evidence.jsonitems import cite_text, looks_like_json
from vvolguard.evidence.pstext import powershell_keys, powershell_rows
from vvolguard.evidence.source import EvidenceFile
from vvolguard.evidence.textio import head_text
from vvolguard.evidence.transcript import output_head
from vvolguard.evidence.values import first, name_of, norm_dict, norm_key, text_of
from vvolguard.evidence.vcenter_exports import (
    BEGIN,
    ENTER_MAINTENANCE,
    EXIT_MAINTENANCE,
    FAILURE,
    MAX_MESSAGE,
    MIGRATION_MESSAGES,
    SUCCESS,
    dayfirst,
    export_sections,
    host_operation,
    is_migration,
    json_objects,
    task_id_of,
)
from vvolguard.evidence.warner import GuardedReader, Warn
from vvolguard.records import Citation, EvidenceKind, HostOperation, MigrationTask, Record, TaskState

# --------------------------------------------------------------------------------------------
# Migrations in events
# --------------------------------------------------------------------------------------------

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

#: Message and time of an event: PowerCLI properties, the vSphere Client's English columns, and
#: the German client's as far as known ("Beschreibung", "Datum/Uhrzeit"; not verified).
_MESSAGE_KEYS = ("fullformattedmessage", "message", "description", "formattedmessage", "beschreibung")
_EVENT_TIME_KEYS = ("createdtime", "datetime", "time", "date", "created", "datumuhrzeit", "datum", "zeit")


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
    message = text_of(first(d, *_MESSAGE_KEYS))
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
    for msg_phase, pattern in MIGRATION_MESSAGES:
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
        time=dates(first(d, *_EVENT_TIME_KEYS), line, "event time"),
        chain=text_of(first(d, "chainid", "eventchainid")),
        vm=name_of(first(d, "vm", "target", "vmname")) or groups.get("vm"),
        source=source,
        dest=dest,
        datastore=datastore,
        reason=_reason(d) if phase == FAILURE else None,
    )


def task_of_chain(d: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """``(chain, task key, descriptionId)`` from a TaskEvent, whose ``Info`` copies the TaskInfo.

    This is what lets an event export be merged with a task export of the same migration.
    """
    info = norm_dict(d.get("info"))
    chain = text_of(first(d, "chainid")) or text_of(info.get("eventchainid"))
    key = task_id_of(first(info, "key", "task"))
    if not chain or not key or not key.lower().startswith("task-"):
        return None
    description_id = text_of(info.get("descriptionid"))
    name = text_of(info.get("name"))
    if not is_migration(name, description_id) and host_operation(name or description_id) is None:
        return None
    return chain, key, description_id


def join_events(
    ef: EvidenceFile,
    events: list[MigrationEvent],
    chain_tasks: dict[str, tuple[str, str | None]] | None = None,
) -> Iterator[MigrationTask]:
    """One MigrationTask per migration: events with the same ChainId belong to one task.

    Start comes from the begin event, end and outcome from the completion or failure event; an
    event without a ChainId is joined to the open begin of the same VM, or stands alone.
    ``chain_tasks`` (from TaskEvents) names the task.
    """
    chain_tasks = chain_tasks or {}
    groups: dict[str, list[MigrationEvent]] = {}
    #: without a ChainId (client event CSVs), a begin is closed by the next outcome of its VM
    open_by_vm: dict[str, str] = {}
    for i, event in sorted(enumerate(events), key=lambda item: _when(item[1])):
        key = event.chain
        if key is None:
            vm = (event.vm or "").lower()
            if event.phase == BEGIN or not vm or vm not in open_by_vm:
                key = f"#line{event.line}#{i}"
                if event.phase == BEGIN and vm:
                    open_by_vm[vm] = key
            else:
                key = open_by_vm.pop(vm)
        groups.setdefault(key, []).append(event)
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


# --------------------------------------------------------------------------------------------
# Host operations in events: maintenance mode
# --------------------------------------------------------------------------------------------

#: Event classes of maintenance mode, and whether each starts or ends the operation.
_HOST_EVENT_TYPES = {
    "enteringmaintenancemodeevent": (ENTER_MAINTENANCE, BEGIN),
    "enteredmaintenancemodeevent": (ENTER_MAINTENANCE, SUCCESS),
    "exitmaintenancemodeevent": (EXIT_MAINTENANCE, SUCCESS),
}
#: vCenter's messages for them (event catalogue: "Host {host} in {datacenter} has started to
#: enter maintenance mode" / "has entered maintenance mode" / "has exited maintenance mode").
_HOST_EVENT_MESSAGES = (
    (ENTER_MAINTENANCE, BEGIN, re.compile(r"(?:has started to enter|is entering) maintenance mode", re.I)),
    (ENTER_MAINTENANCE, SUCCESS, re.compile(r"has entered maintenance mode", re.I)),
    (EXIT_MAINTENANCE, SUCCESS, re.compile(r"has exited maintenance mode", re.I)),
)
_HOST_IN_MESSAGE = re.compile(r"^Host (?P<host>[\w.:-]{1,253}) (?:in |has |is )")


@dataclass(frozen=True)
class HostOpEvent:
    operation: str
    phase: str  # BEGIN (entering, or the task's TaskEvent) or SUCCESS (entered / exited)
    line: int
    cite: str
    time: datetime | None
    chain: str | None
    host: str | None


def host_op_event(
    d: dict[str, Any], envelope: dict[str, Any], line: int, dates: Dates, raw: str | None = None
) -> HostOpEvent | None:
    """A maintenance-mode event (or the TaskEvent of an EnterMaintenanceMode_Task), else None."""
    message = text_of(first(d, *_MESSAGE_KEYS))
    etype = _event_type(d, envelope)
    found = _HOST_EVENT_TYPES.get(etype) if etype else None
    if found is None and etype is not None and etype not in ("taskevent",) and "maintenance" not in etype:
        return None
    if found is None and isinstance(d.get("info"), dict):  # TaskEvent: the task was created
        info = norm_dict(d["info"])
        operation = host_operation(text_of(first(info, "descriptionid", "name")))
        if operation is not None:
            found = (operation, BEGIN)
            d = {**d, "host": d.get("host") or info.get("entityname")}
    if found is None and message:
        head = message[:MAX_MESSAGE]
        matches = ((op, phase) for op, phase, pattern in _HOST_EVENT_MESSAGES if pattern.search(head))
        found = next(matches, None)
    if found is None:
        return None
    in_message = _HOST_IN_MESSAGE.match(message[:MAX_MESSAGE]) if message else None
    return HostOpEvent(
        operation=found[0],
        phase=found[1],
        line=line,
        cite=raw or message or cite_text(d),
        time=dates(first(d, *_EVENT_TIME_KEYS), line, "event time"),
        chain=text_of(first(d, "chainid", "eventchainid")),
        host=name_of(first(d, "host", "hostname", "target", "entity"))
        or (in_message.group("host") if in_message else None),
    )


def join_host_events(
    ef: EvidenceFile, events: list[HostOpEvent], chain_tasks: dict[str, tuple[str, str | None]]
) -> Iterator[HostOperation]:
    """One HostOperation per maintenance-mode operation: its events share a ChainId (the task's
    eventChainId); without one, an "entering" event is closed by the next "entered" of the same
    host. The start is when it began, the end when the host got there."""
    groups: dict[str, list[HostOpEvent]] = {}
    open_by_host: dict[tuple[str, str], str] = {}
    for i, event in enumerate(sorted(events, key=lambda e: (e.time is None, e.time, e.line))):
        key = event.chain
        if key is None:
            host_op = (event.operation, (event.host or "").lower())
            if event.phase == BEGIN or host_op not in open_by_host:
                key = f"#{i}"
                if event.phase == BEGIN:
                    open_by_host[host_op] = key
            else:
                key = open_by_host.pop(host_op)
        groups.setdefault(key, []).append(event)
    out: list[HostOperation] = []
    for chain, members in groups.items():
        begin = next((e for e in members if e.phase == BEGIN), None)
        done = next((e for e in reversed(members) if e.phase == SUCCESS), None)
        main = done or begin
        assert main is not None
        task = chain_tasks.get(chain)
        out.append(
            HostOperation(
                operation=main.operation,
                host=next((e.host for e in (done, begin) if e is not None and e.host), None),
                state=TaskState.SUCCESS if done is not None else TaskState.RUNNING,
                start=(begin or main).time,
                end=done.time if done is not None else None,
                task_id=task[0] if task else None,
                citation=Citation(file=ef.display, line=(begin or main).line, text=(begin or main).cite),
            )
        )
    out.sort(key=lambda op: op.citation.line if op.citation and op.citation.line else 0)
    yield from out


_EVENT_TYPE_LINE = re.compile(r"^#TYPE[ \t]+(?:Selected\.)?VMware\.Vim\.\w{0,100}Event\b", re.MULTILINE)
_EVENT_JSON = re.compile(r'"FullFormattedMessage"[ \t]*:', re.IGNORECASE)
_EVENT_JSON_OTHER = re.compile(r'"(?:ChainId|CreatedTime)"[ \t]*:', re.IGNORECASE)
#: A CloudEvent (VMware Event Broker) about a migration. Two searches, not one ``specversion.*?subject``
#: pattern, which rescanned the rest of the head from every ``specversion`` (quadratic).
_CLOUD_EVENT = re.compile(r'"specversion"[ \t]*:', re.IGNORECASE)
_CLOUD_MIGRATION = re.compile(r'"subject"[ \t]*:[ \t]*"Vm\w{0,100}?(?:Migrat|Relocat)', re.IGNORECASE)
_EVENT_COLUMNS = (
    set(_MESSAGE_KEYS),
    set(_EVENT_TIME_KEYS),
    {"type", "eventtype", "eventtypeid", "typ"},
    {"chainid", "eventchainid"},
    {"user", "username", "benutzer"},
    {"vm", "target", "ziel"},
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
            elif _CLOUD_EVENT.search(text) and _CLOUD_MIGRATION.search(text):
                score = 80
        else:
            header = first_data_line(text)
            if is_csv_header(header, _EVENT_COLUMNS[:2], minimum=2) and is_csv_header(
                header, _EVENT_COLUMNS, 3
            ):
                score = 70
            elif all(powershell_keys(output_head(text)) & group for group in _EVENT_COLUMNS[:2]):
                score = 70  # Get-VIEvent | Format-Table / Format-List, pasted from the console
        return min(score + 7, 95) if score and named else score

    def _read(self, ef: EvidenceFile, warn: Warn) -> Iterator[Record]:
        events: list[MigrationEvent] = []
        host_events: list[HostOpEvent] = []
        chain_tasks: dict[str, tuple[str, str | None]] = {}
        for offset, text, section_warn in export_sections(ef, warn, "event export"):
            self._events(ef, text, section_warn, offset, events, host_events, chain_tasks)
        yield from join_events(ef, events, chain_tasks)
        yield from join_host_events(ef, host_events, chain_tasks)

    def _events(
        self,
        ef: EvidenceFile,
        text: str,
        warn: Warn,
        offset: int,
        events: list[MigrationEvent],
        host_events: list[HostOpEvent],
        chain_tasks: dict[str, tuple[str, str | None]],
    ) -> None:
        if looks_like_json(text):
            dates = Dates(warn, tz=ef.assume_tz)
            for line, item in json_objects(text, warn, "an event"):
                d, envelope = _unwrap(item)
                named = task_of_chain(d)
                if named is not None:
                    chain_tasks[named[0]] = named[1:]
                hosted = host_op_event(d, envelope, line + offset, dates)
                if hosted is not None:
                    host_events.append(hosted)
                    continue
                if named is not None:  # the TaskEvent of a migration: it only names the task
                    continue
                event = migration_event(d, envelope, line + offset, item, dates)
                if event is not None:
                    events.append(event)
            return
        pasted = powershell_rows(text)
        parsed = iter_csv_rows(text, warn) if pasted is None else (pasted[0], iter(pasted[1]))
        if parsed is None:
            warn("neither JSON nor a CSV header; nothing read")
            return
        if not set(_MESSAGE_KEYS) & {norm_key(h) for h in parsed[0]}:
            warn("CSV header names no event message column (Description, Message); nothing read", 1)
            return
        rows = list(parsed[1])
        dates = Dates(warn, dayfirst(rows, _EVENT_TIME_KEYS), tz=ef.assume_tz)
        for line, row, raw in rows:
            hosted = host_op_event(row, {}, line + offset, dates, raw)
            if hosted is not None:
                host_events.append(hosted)
                continue
            event = migration_event(row, {}, line + offset, raw, dates)
            if event is not None:
                events.append(event)


READERS = [EventExportReader()]
