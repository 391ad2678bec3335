"""Tasks and events of the window from vCenter's history collectors, streamed to JSON exports.

Why history collectors: Recent Tasks keeps only running tasks and those finished in the last ten
minutes (docs/evidence-formats.md §4.2), and ``Get-VIEvent`` without a window returns 100 events
(§4.3); an incident two hours ago is only in the history. The filter is the window and the
entities (the datacenters of the hosts asked for, recursively: a migration's task belongs to
the VM, which may have left the host since). Pages of :data:`PAGE` are read and written one at a
time, so memory does not grow with the number of tasks.

Written as ``vcenter/get-task.json`` and ``vcenter/get-vievent.json`` (§4.2, §4.3); the
maintenance-mode task keeps its ``Reason.UserName``, which is "who started it".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from vvolguard.live.serialize import event_json, task_json
from vvolguard.live.window import Window

PAGE = 100
#: The collectors' "latest page" size: vCenter's maximum. vCenter's ReadNext walks the whole
#: history whatever it is, but some implementations (govmomi's simulator) page only within it.
LATEST_PAGE = 1000
TASKS_FILE = "vcenter/get-task.json"
EVENTS_FILE = "vcenter/get-vievent.json"


def _entity_specs(content: Any, roots: list[Any], spec_type: Any) -> list[Any]:
    return [spec_type(entity=root, recursion="all") for root in roots] or [
        spec_type(entity=content.rootFolder, recursion="all")
    ]


def _read_history(collectors: Iterator[Any], read_next: str) -> Iterator[Any]:
    """Every item of each history collector, oldest first, one page at a time; each collector is
    destroyed when done (they are vCenter session resources)."""
    for collector in collectors:
        try:
            collector.SetCollectorPageSize(LATEST_PAGE)
            collector.RewindCollector()  # to the oldest item: ReadNext then walks forward
            while page := getattr(collector, read_next)(PAGE):
                yield from page
        finally:
            collector.DestroyCollector()


def read_tasks(content: Any, roots: list[Any], window: Window) -> Iterator[Any]:
    """Every TaskInfo started in the window under ``roots`` (oldest first), page by page."""
    from pyVmomi import vim

    by_time = vim.TaskFilterSpec.ByTime(timeType="startedTime", beginTime=window.start, endTime=window.end)
    collectors = (
        content.taskManager.CreateCollectorForTasks(vim.TaskFilterSpec(time=by_time, entity=entity))
        for entity in _entity_specs(content, roots, vim.TaskFilterSpec.ByEntity)
    )
    return _read_history(collectors, "ReadNextTasks")


def read_events(content: Any, roots: list[Any], window: Window) -> Iterator[Any]:
    """Every event created in the window under ``roots`` (oldest first), page by page."""
    from pyVmomi import vim

    by_time = vim.event.EventFilterSpec.ByTime(beginTime=window.start, endTime=window.end)
    collectors = (
        content.eventManager.CreateCollectorForEvents(vim.event.EventFilterSpec(time=by_time, entity=entity))
        for entity in _entity_specs(content, roots, vim.event.EventFilterSpec.ByEntity)
    )
    return _read_history(collectors, "ReadNextEvents")


def write_json_array(fh: IO[bytes], items: Iterator[Any], convert: Callable[[Any], dict[str, Any]]) -> int:
    """Stream ``items`` as one JSON array, one converted item at a time; returns the count.

    Duplicates (an entity under two roots) are written once, by key."""
    seen: set[Any] = set()
    count = 0
    fh.write(b"[\n")
    for item in items:
        key = getattr(item, "key", None)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        if count:
            fh.write(b",\n")
        fh.write(json.dumps(convert(item), indent=2).encode("utf-8"))
        count += 1
    fh.write(b"\n]\n")
    return count


def task_converter(server: str) -> Callable[[Any], dict[str, Any]]:
    return lambda info: task_json(info, server)


EVENT_CONVERTER = event_json
