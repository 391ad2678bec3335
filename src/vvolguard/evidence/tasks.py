"""Readers for vCenter's record of migrations: task exports and migration events.

Why: the symptom an admin sees is in vCenter ("A general system error occurred", "A system error
occurred."), and the analysis needs each failed and successful vMotion with its time window to
line them up with vvold pressure on the hosts. Two readers:

* :class:`TaskExportReader` (``vcenter-tasks``): the vSphere Client Tasks CSV export
  (docs/evidence-formats.md §4.4; header-driven, any subset and order of columns, browser-locale dates)
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

from vvolguard.evidence.csvrows import first_data_line, is_csv_header, iter_csv_rows
from vvolguard.evidence.dates import Dates, guess_dayfirst
from vvolguard.evidence.jsonitems import cite_text, iter_json_items, looks_like_json
from vvolguard.evidence.source import EvidenceFile
from vvolguard.evidence.textio import LineIndex, head_text, read_text
from vvolguard.evidence.transcript import output_head, output_sections
from vvolguard.evidence.values import first, name_of, norm_dict, norm_key, text_of
from vvolguard.evidence.warner import GuardedReader, Warn
from vvolguard.records import Citation, EvidenceKind, HostOperation, MigrationTask, Record, TaskState

# --------------------------------------------------------------------------------------------
# What counts as a migration
# --------------------------------------------------------------------------------------------

#: TaskInfo.descriptionId values of migrations (docs/evidence-formats.md §4.2).
MIGRATION_DESCRIPTION_IDS = frozenset(
    {"virtualmachine.relocate", "virtualmachine.migrate", "drm.executevmotionlro"}
)
#: English, and the German/French/Spanish verbs a localised client may show ("migrieren", "migrer")
_MIGRATION_WORDS = re.compile(r"relocat|migr|vmotion|verschieb|d[ée]plac", re.IGNORECASE)
#: Pre-checks and queries mention migration but move nothing.
_NOT_A_MOVE = re.compile(r"check|query|recommend|cancel|pr[üu]f|v[ée]rif|compatib", re.IGNORECASE)
#: Task names and messages are one line; matching further would only cost time on junk.
MAX_NAME = 2000


def is_migration(*names: str | None, host_ops_checked: bool = False) -> bool:
    """True for a task or event that moves a VM (not a pre-check, not a host operation)."""
    present = [n[:MAX_NAME] for n in names if n]
    if not present:
        return False
    if any(n.lower() in MIGRATION_DESCRIPTION_IDS for n in present):
        return True
    if not host_ops_checked and any(host_operation(n) for n in present):
        return False
    return any(_MIGRATION_WORDS.search(n) for n in present) and not any(
        _NOT_A_MOVE.search(n) for n in present
    )


ENTER_MAINTENANCE = "enter-maintenance-mode"
EXIT_MAINTENANCE = "exit-maintenance-mode"

#: Task names, descriptions and descriptionIds of host operations (EnterMaintenanceMode_Task,
#: "Enter maintenance mode", HostSystem.enterMaintenanceMode, hostd's haTask-...-enterMaintenanceMode)
#: and vCenter's event messages. The German and French client labels are best guesses, not
#: verified samples.
_HOST_OPERATIONS = (
    (
        ENTER_MAINTENANCE,
        re.compile(
            r"enter[ _.-]?maintenance|in den wartungsmodus|wartungsmodus (?:wechseln|aktivieren)"
            r"|entrer en mode (?:de )?maintenance|(?:is entering|has entered) maintenance mode",
            re.IGNORECASE,
        ),
    ),
    (
        EXIT_MAINTENANCE,
        re.compile(
            r"exit[ _.-]?maintenance|wartungsmodus (?:beenden|verlassen)|quitter le mode (?:de )?maintenance"
            r"|exited maintenance mode",
            re.IGNORECASE,
        ),
    ),
)


def host_operation(name: str | None) -> str | None:
    """``enter-maintenance-mode`` / ``exit-maintenance-mode`` for a task name or message, else None."""
    if not name:
        return None
    head = name[:MAX_NAME]
    return next((op for op, pattern in _HOST_OPERATIONS if pattern.search(head)), None)


_STATE_BY_NUMBER = (TaskState.QUEUED, TaskState.RUNNING, TaskState.SUCCESS, TaskState.ERROR)
_NON_WORD = re.compile(r"[\W_]+")


def _state_key(text: str) -> str:
    """Case- and accent-tolerant key that keeps non-Latin letters ("完了", "Terminé")."""
    return _NON_WORD.sub("", text.casefold())


#: Status words of the vSphere Client and PowerCLI, in English and in the client languages an
#: admin may export from (German, French, Spanish, Italian, Japanese, Chinese; the translations
#: are not verified against real exports: a Status that is none of these words is read as a
#: failure whose text is the error, which is how the client shows a failed task anyway).
_STATE_WORDS = {
    _state_key(word): state
    for state, words in (
        (
            TaskState.SUCCESS,
            "completed complete success succeeded successful completedsuccessfully done "
            "abgeschlossen erfolgreich terminé terminée réussi réussie completado completada "
            "correcto completato completata riuscito 完了 成功 已完成 完成",
        ),
        (
            TaskState.RUNNING,
            "running inprogress started wirdausgeführt inbearbeitung läuft encours "
            "enejecución encurso inesecuzione 実行中 进行中 正在进行",
        ),
        (
            TaskState.QUEUED,
            "queued pending waiting inwarteschlange wartend enattente encola incoda 已排队",
        ),
        (
            TaskState.ERROR,
            "error failed failure fehler fehlgeschlagen erreur échec échoué fallido errore "
            "nonriuscito エラー 失敗 失败 错误",
        ),
    )
    for word in words.split()
}
_CANCELLED = {
    _state_key(w)
    for w in [
        "canceled",
        "cancelled",
        "abgebrochen",
        "annulé",
        "annulée",
        "cancelado",
        "annullato",
        "キャンセル済み",
        "已取消",
    ]
}
_PERCENT = re.compile(r"\d{1,3}[ \t]{0,3}%")


def task_state(value: object) -> tuple[TaskState, str | None]:
    """A task state from a Status column, a State enum (text or 0..3), or an error message.

    The vSphere Client puts the error itself in Status ("A general system error occurred: ...",
    "The operation is not allowed in the current state."), so any Status that is not a known
    success, running or queued word is a failure and its text is the error; a cancellation is a
    failure whose error is "Canceled".
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return (_STATE_BY_NUMBER[value], None) if 0 <= value < 4 else (TaskState.UNKNOWN, None)
    text = text_of(value)
    if text is None or name_of(text) is None:  # empty, or a .NET type name left by -Depth
        return TaskState.UNKNOWN, None
    key = _state_key(text[:200])
    if key.isdigit() and len(key) == 1 and int(key) < 4:
        return _STATE_BY_NUMBER[int(key)], None
    if key in _STATE_WORDS:
        return _STATE_WORDS[key], None
    if key in _CANCELLED:
        return TaskState.ERROR, text
    if _PERCENT.fullmatch(text):
        return TaskState.RUNNING, None
    return TaskState.ERROR, text


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

_TASK_TYPE_LINE = re.compile(
    r"^#TYPE[ \t]+(?:Selected\.)?VMware\.VimAutomation\.\S{0,200}Task", re.MULTILINE | re.IGNORECASE
)
_TASK_JSON_KEYS = re.compile(
    r'"(?:PercentComplete|IsCancelable|FinishTime|DescriptionId|EventChainId|QueueTime|CompleteTime'
    r'|EntityName)"[ \t]*:',
    re.IGNORECASE,
)
#: What a Get-Task object flattened by Select-Object still shows: its Id and its API method name.
_TASK_ID_VALUE = re.compile(r'"(?:Task-)?task-\d{1,12}"', re.IGNORECASE)
_TASK_NAME_VALUE = re.compile(r'"[A-Za-z]{1,64}_Task"')
_TASK_COLUMNS = (
    {"taskname", "aufgabe", "aufgabenname", "nomdelatche"},
    {"target", "entityname", "ziel", "cible"},
    {"starttime", "gestartet", "startzeit", "heurededbut"},
    {"completiontime", "finishtime", "completetime", "abschlusszeit", "beendet", "heuredefin"},
    {"initiator", "initiateur"},
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
    host: str | None  # a flattened "Host" column: the host of a host task


def _plain(value: object) -> str | None:
    """Text of a value, but not the .NET type name ConvertTo-Json leaves past its -Depth."""
    text = text_of(value)
    return None if text is None or _TYPE_NAME.match(text) else text


_TYPE_NAME = re.compile(r"(?:VMware|System)\.[A-Za-z0-9_.]{1,200}(?:\[\])?")


def _first_or(value: object, fallback: object) -> object:
    return fallback if value is None else value


def _task_fields(d: dict[str, Any]) -> _TaskFields:
    ext = norm_dict(d.get("extensiondata"))
    info = norm_dict(ext.get("info")) or norm_dict(d.get("info"))
    error = info.get("error")
    error_text = (
        text_of(first(norm_dict(error), "localizedmessage", "message")) if isinstance(error, dict) else None
    )
    if error_text is None and isinstance(error, str):
        error_text = _plain(error)
    details = _plain(first(d, "details", "detail", "error", "errormessage", "message")) or error_text
    return _TaskFields(
        name=_plain(
            first(d, "taskname", "name", "task", "operation", "aufgabe", "aufgabenname", "nomdelatche")
        )
        or _plain(info.get("name")),
        description=_plain(first(d, "description", "descriptionmessage", "beschreibung")),
        description_id=_plain(first(d, "descriptionid")) or _plain(info.get("descriptionid")),
        target=_plain(
            first(d, "target", "entityname", "entity", "vm", "virtualmachine", "objectname", "ziel", "cible")
        )
        or _plain(info.get("entityname"))
        or _plain(d.get("objectid")),
        status=_first_or(first(d, "status", "state", "statut", "tat", "zustand"), info.get("state")),
        details=details,
        start=first(d, *_START_COLUMNS) or info.get("starttime"),
        end=first(d, *_END_COLUMNS) or info.get("completetime"),
        task_id=_task_id(first(d, "id", "key", "taskid", "taskkey") or info.get("key")),
        chain=text_of(first(d, "eventchainid", "chainid") or info.get("eventchainid")),
        source=name_of(first(d, "sourcehost", "source", "fromhost")),
        dest=name_of(first(d, "destinationhost", "desthost", "destination", "targethost", "tohost")),
        datastore=name_of(first(d, "datastore", "destinationdatastore")),
        host=name_of(first(d, "host", "vmhost", "hostname")),
    )


#: Start and completion columns: PowerCLI, the vSphere Client in English, and the German and
#: French labels as far as known ("Gestartet", "Startzeit", "Heure de début"; not verified).
_START_COLUMNS = ("starttime", "start", "started", "gestartet", "startzeit", "beginn", "heurededbut", "dbut")
_END_COLUMNS = (
    "completiontime",
    "finishtime",
    "completetime",
    "endtime",
    "end",
    "finished",
    "abgeschlossen",
    "abschlusszeit",
    "beendet",
    "endzeit",
    "heuredefin",
    "fin",
)


def _cite_task(f: _TaskFields, state: TaskState, error: str | None, start: object, end: object) -> str:
    """What a citation of a JSON task shows: the fields that matter, not the whole object.

    ``task-901 RelocateVM_Task app-01 Error 2026-03-14T10:02:11Z - 2026-03-14T10:04:13Z — <error>``.
    Values are quoted as the file writes them (so the quote can be found in it), except a
    ``/Date(ms)/``, which is shown as the UTC time it stands for.
    """
    parts: list[str | None] = [f.task_id or "task", f.name or f.description or f.description_id or "?"]
    if f.target:
        parts.append(f.target)
    parts.append(text_of(f.status) if isinstance(f.status, str) else state.value)
    times = [_quoted_time(raw, parsed) for raw, parsed in ((f.start, start), (f.end, end))]
    if times[0] or times[1]:
        parts.append(f"{times[0] or '?'} - {times[1] or '…'}")
    text = " ".join(p for p in parts if p)
    return f"{text} — {error}" if error and error != parts[-1] else text


def _quoted_time(raw: object, parsed: object) -> str | None:
    if isinstance(raw, str) and raw.strip() and "Date(" not in raw:
        return raw.strip()
    if isinstance(parsed, datetime):
        return parsed.isoformat().replace("+00:00", "Z")
    return None


def _from_task(
    ef: EvidenceFile, d: dict[str, Any], line: int, cite: str | None, dates: Dates
) -> MigrationTask | HostOperation | None:
    """A migration or a host operation (maintenance mode) from one task; None for the rest.

    ``cite`` is the raw CSV line; JSON tasks (``None``) are cited by their important fields.
    """
    f = _task_fields(d)
    operation = next(
        (op for op in map(host_operation, (f.name, f.description, f.description_id)) if op), None
    )
    if operation is None and not is_migration(f.name, f.description, f.description_id, host_ops_checked=True):
        return None
    state, status_error = task_state(f.status)
    error = status_error
    if state is TaskState.ERROR and f.details and (error is None or _state_key(error) in _STATE_WORDS):
        error = f.details
    if state is TaskState.ERROR and error is None:
        error = text_of(f.status)
    start = dates(f.start, line, "start time")
    end = dates(f.end, line, "completion time")
    citation = Citation(file=ef.display, line=line, text=cite or _cite_task(f, state, error, start, end))
    if operation is not None:
        return HostOperation(
            operation=operation,
            host=f.target or f.host,
            state=state,
            start=start,
            end=end,
            task_id=f.task_id,
            error=error,
            citation=citation,
        )
    named = _hosts_in_message(f.details)
    return MigrationTask(
        task_id=f.task_id,
        vm=f.target,
        source_host=f.source or named.get("src"),
        dest_host=f.dest or named.get("dst") or _dest_from_details(f.details),
        state=state,
        start=start,
        end=end,
        error=error,
        datastore=f.datastore,
        description_id=f.description_id,
        event_chain_id=f.chain,
        citation=citation,
    )


class TaskExportReader(GuardedReader):
    """vSphere Client Tasks CSV, or PowerCLI ``Get-Task`` as JSON or CSV."""

    kind = EvidenceKind.VCENTER_TASKS

    def sniff(self, name: str, head: bytes) -> int:
        text = output_head(head_text(head[:65536]))
        base = norm_key(name)
        named = "task" in base
        if _TASK_TYPE_LINE.search(text):
            return 98
        score = 0
        if looks_like_json(text):
            keys = {norm_key(m.group(0)) for m in _TASK_JSON_KEYS.finditer(text)}
            flattened = _TASK_ID_VALUE.search(text) and (_TASK_NAME_VALUE.search(text) or keys)
            if len(keys) >= 2 or flattened:
                score = 80
        else:
            header = first_data_line(text)
            if is_csv_header(header, _TASK_COLUMNS, minimum=3):
                score = 85
            elif is_csv_header(header, _TASK_COLUMNS, minimum=2) and named:
                score = 60
        return min(score + 8, 95) if score and named else score

    def _read(self, ef: EvidenceFile, warn: Warn) -> Iterator[Record]:
        full = read_text(ef, warn)
        if full is None:
            return
        if not full.strip():
            warn("empty task export")
            return
        for offset, text, section_warn in output_sections(full, warn):
            yield from self._read_text(ef, text, section_warn, offset)

    def _read_text(self, ef: EvidenceFile, text: str, warn: Warn, offset: int) -> Iterator[Record]:
        if looks_like_json(text):
            dates = Dates(warn, tz=ef.assume_tz)
            for line, item in iter_json_items(text, warn, LineIndex(text)):
                if not isinstance(item, dict):
                    warn(f"JSON entry is a {type(item).__name__}, not a task; skipped", line)
                    continue
                task = _from_task(ef, norm_dict(item), line + offset, None, dates)
                if task is not None:
                    yield task
            return
        parsed = iter_csv_rows(text, warn)
        if parsed is None:
            warn("neither JSON nor a CSV header; nothing read")
            return
        header, rows = parsed
        names = {norm_key(h) for h in header}
        if not _NAME_COLUMNS & names:
            warn("CSV header names no task column (Task Name, Name, Description); nothing read", 1)
            return
        materialised = list(rows)
        dates = Dates(warn, _dayfirst(materialised, _START_COLUMNS + _END_COLUMNS), tz=ef.assume_tz)
        for line, row, raw in materialised:
            task = _from_task(ef, row, line + offset, raw, dates)
            if task is not None:
                yield task


_LOCAL_NAME_COLUMNS = ("aufgabe", "aufgabenname", "nomdelatche", "tche")
_NAME_COLUMNS = frozenset({"taskname", "name", "description", "descriptionid", *_LOCAL_NAME_COLUMNS})


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
#: Anchored at the start: every message begins with its phrase, and an unanchored lazy ``.+?``
#: would rescan the rest of the text from every repeated phrase (quadratic on hostile input).
_MESSAGES = (
    (
        SUCCESS,
        re.compile(
            r"^Migration of virtual machine (?P<vm>.+?) from (?P<src>[^,]+), (?P<sds>.+?) "
            r"to (?P<dst>[^,]+), (?P<dds>.+?) completed",
            re.IGNORECASE,
        ),
    ),
    (SUCCESS, re.compile(r"^DRS migrated (?P<vm>.+?) from (?P<src>\S+) to (?P<dst>\S+)", re.IGNORECASE)),
    (
        FAILURE,
        re.compile(
            r"^(?:Cannot migrate|Failed to migrate|Failed to relocate|Cannot relocate) (?P<vm>.+?) from "
            r"(?P<src>[^,]+), (?P<sds>[^,]+?)(?: in [^,]+?)? to (?P<dst>[^,]+), (?P<dds>.+?)(?: in |$)",
            re.IGNORECASE,
        ),
    ),
    (
        FAILURE,
        re.compile(
            r"^(?:Cannot migrate|Failed to migrate|Failed to relocate|Cannot relocate) (?P<vm>\S+)", re.I
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


def _hosts_in_message(text: str | None) -> dict[str, str]:
    """Source and destination named by a migration message in a task's Details column
    ("Migrating app-01 from esx-01, ds to esx-02, ds in DC1"), as the event messages name them."""
    if not text:
        return {}
    head = text[:MAX_MESSAGE]
    for _phase, pattern in _MESSAGES:
        found = pattern.search(head)
        if found:
            return {k: v for k, v in found.groupdict().items() if v and k in ("src", "dst")}
    return {}


#: Message and time of an event: PowerCLI properties, the vSphere Client's English columns, and
#: the German client's as far as known ("Beschreibung", "Datum/Uhrzeit"; not verified).
_MESSAGE_KEYS = ("fullformattedmessage", "message", "description", "formattedmessage", "beschreibung")
_EVENT_TIME_KEYS = ("createdtime", "datetime", "time", "date", "created", "datumuhrzeit", "datum", "zeit")

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
    key = _task_id(first(info, "key", "task"))
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
        return min(score + 7, 95) if score and named else score

    def _read(self, ef: EvidenceFile, warn: Warn) -> Iterator[Record]:
        full = read_text(ef, warn)
        if full is None:
            return
        if not full.strip():
            warn("empty event export")
            return
        events: list[MigrationEvent] = []
        host_events: list[HostOpEvent] = []
        chain_tasks: dict[str, tuple[str, str | None]] = {}
        for offset, text, section_warn in output_sections(full, warn):
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
            for line, item in iter_json_items(text, warn, LineIndex(text)):
                if not isinstance(item, dict):
                    warn(f"JSON entry is a {type(item).__name__}, not an event; skipped", line)
                    continue
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
        parsed = iter_csv_rows(text, warn)
        if parsed is None:
            warn("neither JSON nor a CSV header; nothing read")
            return
        if not set(_MESSAGE_KEYS) & {norm_key(h) for h in parsed[0]}:
            warn("CSV header names no event message column (Description, Message); nothing read", 1)
            return
        rows = list(parsed[1])
        dates = Dates(warn, _dayfirst(rows, _EVENT_TIME_KEYS), tz=ef.assume_tz)
        for line, row, raw in rows:
            hosted = host_op_event(row, {}, line + offset, dates, raw)
            if hosted is not None:
                host_events.append(hosted)
                continue
            event = migration_event(row, {}, line + offset, raw, dates)
            if event is not None:
                events.append(event)


READERS = [TaskExportReader(), EventExportReader()]
