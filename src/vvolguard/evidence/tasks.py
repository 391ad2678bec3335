"""Reader for vCenter's task exports: the migrations and host operations in a task list.

Why: the symptom an admin sees is in vCenter ("A general system error occurred", "A system error
occurred."), and the analysis needs each failed and successful vMotion with its time window to
line them up with vvold pressure on the hosts. :class:`TaskExportReader` (``vcenter-tasks``)
reads the vSphere Client Tasks CSV export (docs/evidence-formats.md §4.4; header-driven, any
subset and order of columns, browser-locale dates) and PowerCLI ``Get-Task`` as ``ConvertTo-Json``
or ``Export-Csv`` (§4.2). The event export is read by :mod:`vvolguard.evidence.events`; what the
two share (what a migration is, vCenter's messages) is in :mod:`vvolguard.evidence.vcenter_exports`.

Only migration-like tasks and maintenance-mode tasks become records; the rest of a task list
(power-ons, snapshots) is not evidence for this tool and is dropped silently. What an export does
not say (a task export rarely names the source host) stays ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vvolguard.evidence.csvrows import first_data_line, is_csv_header, iter_csv_rows
from vvolguard.evidence.dates import Dates
from vvolguard.evidence.jsonitems import looks_like_json
from vvolguard.evidence.pstext import powershell_keys, powershell_rows
from vvolguard.evidence.source import EvidenceFile
from vvolguard.evidence.textio import head_text
from vvolguard.evidence.transcript import output_head
from vvolguard.evidence.values import first, name_of, norm_dict, norm_key, text_of
from vvolguard.evidence.vcenter_exports import (
    dayfirst,
    export_sections,
    host_operation,
    hosts_in_message,
    is_migration,
    json_objects,
    task_id_of,
)
from vvolguard.evidence.warner import GuardedReader, Warn
from vvolguard.records import Citation, EvidenceKind, HostOperation, MigrationTask, Record, TaskState

# --------------------------------------------------------------------------------------------
# Task states
# --------------------------------------------------------------------------------------------

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
        task_id=task_id_of(first(d, "id", "key", "taskid", "taskkey") or info.get("key")),
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
    named = hosts_in_message(f.details)
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
            elif _NAME_COLUMNS & (keys := powershell_keys(text)) and _task_columns(keys) >= 3:
                score = 80  # Get-Task at a PowerCLI prompt (a table) or | Format-List
        return min(score + 8, 95) if score and named else score

    def _read(self, ef: EvidenceFile, warn: Warn) -> Iterator[Record]:
        for offset, text, section_warn in export_sections(ef, warn, "task export"):
            yield from self._read_text(ef, text, section_warn, offset)

    def _read_text(self, ef: EvidenceFile, text: str, warn: Warn, offset: int) -> Iterator[Record]:
        if looks_like_json(text):
            dates = Dates(warn, tz=ef.assume_tz)
            for line, item in json_objects(text, warn, "a task"):
                task = _from_task(ef, norm_dict(item), line + offset, None, dates)
                if task is not None:
                    yield task
            return
        pasted = powershell_rows(text)
        parsed = iter_csv_rows(text, warn) if pasted is None else (pasted[0], iter(pasted[1]))
        if parsed is None:
            warn("neither JSON nor a CSV header; nothing read")
            return
        header, rows = parsed
        names = {norm_key(h) for h in header}
        if not _NAME_COLUMNS & names:
            warn("CSV header names no task column (Task Name, Name, Description); nothing read", 1)
            return
        materialised = list(rows)
        dates = Dates(warn, dayfirst(materialised, _START_COLUMNS + _END_COLUMNS), tz=ef.assume_tz)
        for line, row, raw in materialised:
            task = _from_task(ef, row, line + offset, raw, dates)
            if task is not None:
                yield task


def _task_columns(keys: set[str]) -> int:
    """How many of a task list's column groups a set of normalised names holds."""
    return sum(1 for group in _TASK_COLUMNS if keys & group)


_LOCAL_NAME_COLUMNS = ("aufgabe", "aufgabenname", "nomdelatche", "tche")
_NAME_COLUMNS = frozenset({"taskname", "name", "description", "descriptionid", *_LOCAL_NAME_COLUMNS})


READERS = [TaskExportReader()]
