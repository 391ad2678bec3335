"""CSV exports read header-first, with the line where each row starts.

``Export-Csv`` writes a ``#TYPE`` line and, with ``-UseCulture``, ``;`` in many locales; rows may
span lines (quoted newlines) and some are damaged: each is cited at its first line or skipped
with a warning.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator

from vvolguard.evidence.values import norm_key
from vvolguard.evidence.warner import Warn

#: Unreadable rows tolerated before giving up on the rest of a file.
MAX_BAD_ROWS = 1000


_DELIMS = (",", ";", "\t", "|")


def _delimiter(header: str) -> str:
    """The delimiter of a header line (``Export-Csv -UseCulture`` writes ``;`` in many locales)."""
    counts = {d: header.count(d) for d in _DELIMS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def iter_csv_rows(
    text: str, warn: Warn, accept_header: Callable[[list[str]], bool] | None = None
) -> tuple[list[str], Iterator[tuple[int, dict[str, str], str]]] | None:
    """Header and rows of a CSV export: ``(header, iter((line, {norm_key: value}, raw_line)))``.

    Skips the ``#TYPE ...`` line ``Export-Csv`` writes, and blank lines before the header. Rows
    spanning lines (quoted newlines) are cited at their first line. ``None`` if no header is found.
    """
    lines = [line.rstrip("\r") for line in text.split("\n")]
    start = 0
    while start < len(lines) and (not lines[start].strip() or lines[start].startswith("#TYPE")):
        start += 1
    if start >= len(lines):
        return None
    delim = _delimiter(lines[start][:10000])
    try:
        header = next(csv.reader([lines[start]], delimiter=delim))
    except (csv.Error, StopIteration):
        return None
    header = [h.strip().lstrip("\ufeff") for h in header]
    if accept_header is not None and not accept_header(header):
        return None
    keys = [norm_key(h) for h in header]
    return header, _csv_rows(lines, start, delim, keys, warn)


def _csv_rows(
    lines: list[str], start: int, delim: str, keys: list[str], warn: Warn
) -> Iterator[tuple[int, dict[str, str], str]]:
    numbered = iter(range(start + 1, len(lines)))
    consumed = start + 1  # 1-based number of the last line handed to csv

    def feed() -> Iterator[str]:
        nonlocal consumed
        for i in numbered:
            consumed = i + 1
            yield lines[i] + "\n"  # keeps the newline inside a quoted multi-line cell

    reader = csv.reader(feed(), delimiter=delim)
    errors = 0
    while True:
        row_start = consumed + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors += 1
            warn(f"unreadable CSV row ({exc}); skipped", row_start)
            if errors > MAX_BAD_ROWS:
                return
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(keys) and any(cell.strip() for cell in row[len(keys) :]):
            warn(f"row has {len(row)} cells but the header has {len(keys)}; extra cells ignored", row_start)
        record = {k: (row[i].strip() if i < len(row) else "") for i, k in enumerate(keys) if k}
        yield row_start, record, lines[row_start - 1] if row_start - 1 < len(lines) else ""


def is_csv_header(line: str, required: Iterable[set[str]], minimum: int = 2) -> bool:
    """True when a header line names at least ``minimum`` of the column groups in ``required``.

    Each group is a set of normalised alternative names for one column.
    """
    if not line or len(line) > 20000:
        return False
    try:
        cells = next(csv.reader([line], delimiter=_delimiter(line)))
    except (csv.Error, StopIteration):
        return False
    names = {norm_key(c.strip().lstrip("\ufeff")) for c in cells}
    return sum(1 for group in required if names & group) >= minimum


def first_data_line(text: str) -> str:
    """The header line of a CSV export (after ``#TYPE`` and blank lines)."""
    for line in text.split("\n", 20)[:20]:
        line = line.rstrip("\r")
        if line.strip() and not line.startswith("#TYPE"):
            return line
    return ""
