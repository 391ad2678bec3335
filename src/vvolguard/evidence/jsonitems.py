"""JSON exports read item by item with their line numbers, surviving truncation and damage.

A JSON export may be cut off half-way or damaged in one entry; everything before the cut and
every undamaged entry is still evidence, so reading resumes after a damaged entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from vvolguard.evidence.textio import LineIndex
from vvolguard.evidence.warner import Warn

_WS = " \t\r\n"
_DECODER = json.JSONDecoder()
#: Resynchronisation attempts after damaged entries before giving up on the rest of a file.
MAX_RESYNC = 1000


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in _WS:
        pos += 1
    return pos


def looks_like_json(text: str) -> bool:
    pos = _skip_ws(text, 0)
    return pos < len(text) and text[pos] in "[{"


def iter_json_items(text: str, warn: Warn, index: LineIndex | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, item)`` for each top-level item: the elements of an array, a single object,
    concatenated objects (JSON lines), or the ``value`` array of a PowerShell wrapper object.

    A damaged entry is skipped with a warning naming its line, and reading resumes at the next
    entry, so a truncated export still gives everything before the cut.
    """
    index = index or LineIndex(text)
    pos = _skip_ws(text, 0)
    if pos >= len(text):
        warn("empty JSON file")
        return
    if text[pos] == "[":
        yield from _iter_array(text, pos, warn, index)
        return
    resyncs = 0
    while pos < len(text):
        if text[pos] != "{":
            warn("unexpected text after the JSON data; ignored", index.line_of(pos))
            return
        try:
            obj, end = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as exc:
            nxt = _skip_damaged(text, pos, exc, warn, index)
            resyncs += 1
            if nxt is None or resyncs > MAX_RESYNC:
                return
            pos = _skip_ws(text, nxt)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_ws(text, pos + 1)
            continue
        wrapped = _powershell_wrapper(obj)
        if wrapped is not None:
            arr = text.find("[", pos)
            if arr >= 0:
                yield from _iter_array(text, arr, warn, index)
        else:
            yield index.line_of(pos), obj
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":  # objects separated by commas without brackets
            pos = _skip_ws(text, pos + 1)


def _powershell_wrapper(obj: object) -> list[Any] | None:
    """``{"value": [...], "Count": n}``: how Windows PowerShell sometimes serialises an array."""
    if isinstance(obj, dict) and isinstance(obj.get("value"), list) and set(obj) <= {"value", "Count"}:
        return obj["value"]
    return None


def _json_reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    return "nested too deeply"


def _iter_array(text: str, pos: int, warn: Warn, index: LineIndex) -> Iterator[tuple[int, Any]]:
    n = len(text)
    pos += 1
    resyncs = 0
    while True:
        pos = _skip_ws(text, pos)
        if pos >= n:
            warn(
                "JSON array is not closed (file cut off?); entries before the cut were used",
                index.line_of(n),
            )
            return
        ch = text[pos]
        if ch == "]":
            rest = _skip_ws(text, pos + 1)
            if rest < n:
                warn("unexpected text after the JSON array; ignored", index.line_of(rest))
            return
        if ch == ",":
            pos += 1
            continue
        try:
            obj, end = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as exc:
            nxt = _skip_damaged(text, pos, exc, warn, index)
            resyncs += 1
            if nxt is None or resyncs > MAX_RESYNC:
                return
            pos = nxt
            continue
        yield index.line_of(pos), obj
        pos = end


_SIGNIFICANT = re.compile(r'[\\"{}\[\]]')


def _skip_damaged(text: str, pos: int, exc: BaseException, warn: Warn, index: LineIndex) -> int | None:
    """Warn about the damaged entry at ``pos`` and return where it ends (by bracket balance).

    ``None`` when the entry never closes: the file was cut off there.
    """
    start_line = index.line_of(pos)
    end = _value_end(text, pos)
    if end is None:
        warn(f"JSON entry is cut off ({_json_reason(exc)}); entries before it were used", start_line)
        return None
    err_line = index.line_of(min(getattr(exc, "pos", pos), end))
    warn(f"JSON entry starting at line {start_line} is damaged ({_json_reason(exc)}); skipped", err_line)
    return end


def _value_end(text: str, pos: int) -> int | None:
    """End offset of the JSON object/array at ``pos``, tracking strings and escapes only."""
    depth = 0
    in_string = False
    skip_to = -1
    for match in _SIGNIFICANT.finditer(text, pos):
        j = match.start()
        if j < skip_to:
            continue
        c = text[j]
        if in_string:
            if c == "\\":
                skip_to = j + 2
            elif c == '"':
                in_string = False
            continue
        if c == '"':
            in_string = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth <= 0:
                return j + 1
    return None


def cite_text(obj: object) -> str:
    """What a citation of a JSON entry shows: the entry, compactly.

    The line where an entry starts is usually just ``{``, which tells a reader nothing; the
    citation's line number still points at that line, so the entry can be found in the file.
    """
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)[:2000]
    except (TypeError, ValueError, RecursionError):
        return str(obj)[:2000]
