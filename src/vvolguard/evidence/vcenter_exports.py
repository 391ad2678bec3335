"""What the vCenter task and event exports share: the vocabulary of migrations in vCenter's words.

Why a module of its own: a task export and an event export describe the same migrations in the
same words. A task's Details column quotes the event message ("Migrating app-01 from esx-01, ds
to esx-02, ds in DC1"), a TaskEvent copies the task's key and descriptionId, and both readers must
agree on what counts as a migration and what is a maintenance-mode host operation. The task
reader (:mod:`vvolguard.evidence.tasks`) and the event reader (:mod:`vvolguard.evidence.events`)
take these from here, so the two cannot drift apart. Formats: docs/evidence-formats.md §4.2-§4.4.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from vvolguard.evidence.dates import guess_dayfirst
from vvolguard.evidence.jsonitems import iter_json_items
from vvolguard.evidence.source import EvidenceFile
from vvolguard.evidence.textio import LineIndex, read_text
from vvolguard.evidence.transcript import output_sections
from vvolguard.evidence.values import text_of
from vvolguard.evidence.warner import Warn

# --------------------------------------------------------------------------------------------
# What counts as a migration, and what is a host operation
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


def task_id_of(value: object) -> str | None:
    """``Task-task-12345`` (PowerCLI Id) -> ``task-12345`` (the vSphere key events refer to)."""
    text = text_of(value)
    if text is None:
        return None
    return text[5:] if text.lower().startswith("task-task-") else text


# --------------------------------------------------------------------------------------------
# vCenter's migration messages: events, and a task's Details column
# --------------------------------------------------------------------------------------------

#: The phases of a migration as its events tell it.
BEGIN, SUCCESS, FAILURE = "begin", "success", "failure"

#: vCenter's English event messages (§4.3), used when fields are missing (CSV, shallow JSON).
#: Anchored at the start: every message begins with its phrase, and an unanchored lazy ``.+?``
#: would rescan the rest of the text from every repeated phrase (quadratic on hostile input).
MIGRATION_MESSAGES = (
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


#: vCenter event messages are one sentence; matching past this would only cost time on junk.
MAX_MESSAGE = 2000


def hosts_in_message(text: str | None) -> dict[str, str]:
    """Source and destination named by a migration message in a task's Details column
    ("Migrating app-01 from esx-01, ds to esx-02, ds in DC1"), as the event messages name them."""
    if not text:
        return {}
    head = text[:MAX_MESSAGE]
    for _phase, pattern in MIGRATION_MESSAGES:
        found = pattern.search(head)
        if found:
            return {k: v for k, v in found.groupdict().items() if v and k in ("src", "dst")}
    return {}


# --------------------------------------------------------------------------------------------
# Reading an export
# --------------------------------------------------------------------------------------------


def export_sections(ef: EvidenceFile, warn: Warn, what: str) -> Iterator[tuple[int, str, Warn]]:
    """The text of an export, section by section (a transcript may hold several commands' outputs).

    ``(line offset, text, warn for that section)``; nothing when the file cannot be read or is
    empty (``what`` names it in the warning: "empty task export").
    """
    full = read_text(ef, warn)
    if full is None:
        return
    if not full.strip():
        warn(f"empty {what}")
        return
    yield from output_sections(full, warn)


def json_objects(text: str, warn: Warn, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The objects of a JSON export with their line numbers; any other entry is named in a
    warning ("JSON entry is a list, not a task; skipped") and passed over."""
    for line, item in iter_json_items(text, warn, LineIndex(text)):
        if not isinstance(item, dict):
            warn(f"JSON entry is a {type(item).__name__}, not {what}; skipped", line)
            continue
        yield line, item


def dayfirst(rows: Sequence[tuple[int, dict[str, str], str | None]], columns: Iterable[str]) -> bool | None:
    """Whether the dates in ``columns`` of CSV ``rows`` put the day first (None: cannot tell)."""
    cols = tuple(columns)
    return guess_dayfirst(row.get(c, "") for _, row, _ in rows for c in cols)
