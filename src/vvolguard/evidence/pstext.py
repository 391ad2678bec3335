"""PowerShell's own text output of objects: ``Format-List`` and ``Format-Table`` (the default view).

Why: the runbook itself has admins run ``Get-VasaProvider -Refresh | Format-List *`` and
``... | Select-Object Name, Id, Url | Format-Table -AutoSize``, and ``Get-Task`` /
``Get-VasaProvider`` typed at a PowerCLI prompt print a table. What they paste into a ticket is
that text, not ``Export-Csv``. Both shapes become the rows the CSV path of a reader takes:
``(line, {norm_key: value}, cited text)``.

* ``Format-List``: blocks of ``Key<padding> : value`` separated by blank lines; the keys of a
  block are padded to one width, so the colon sits in one column; a long value wraps onto lines
  indented to the value's column (a one-word value, such as a URL, is cut where the line was
  full and joined back without a space; a value of words was cut at a space).
* ``Format-Table``: a header line of names, a line of dash groups under them (one per column),
  then one row per object; a cell too wide for its column ends in ``...``. Columns are cut where
  the dash groups start; the last column runs to the end of the line.

Anything else gives ``None``: a reader falls back to its CSV path. Only plain text is read here
(PowerShell's ``Out-File`` / ``>`` UTF-16 is decoded before).
"""

from __future__ import annotations

import re

from vvolguard.evidence.values import norm_key

#: ``Name       : RelocateVM_Task`` (a property name, padding, `` : ``, the value).
_LIST_LINE = re.compile(r"^([A-Za-z][\w.]{0,63}) *: ?(.*)$")
#: The dash line under a table's header: groups of dashes separated by spaces.
_DASHES = re.compile(r"^ *-+(?: +-+)+ *$|^ *-{2,} *$")
_DASH_GROUP = re.compile(r"-+")

Rows = list[tuple[int, dict[str, str], str | None]]


def format_list_rows(text: str) -> tuple[list[str], Rows] | None:
    """Objects of a ``Format-List`` text, or ``None`` when the text is not one (fewer than two
    blocks of two or more aligned ``Key : value`` lines, or one block of three or more)."""
    lines = text.split("\n")
    rows: Rows = []
    keys: list[str] = []
    block: dict[str, str] = {}
    start = 0
    colon: int | None = None
    last: str | None = None

    def close() -> None:
        nonlocal block, colon, last
        if len(block) >= 2:
            rows.append((start, block, None))
        block, colon, last = {}, None, None

    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r").rstrip()
        if not line.strip():
            close()
            continue
        m = _LIST_LINE.match(line)
        here = line.find(":")
        if m and (colon is None or here == colon):
            if not block:
                start = number
            colon = here
            key = m.group(1)
            last = norm_key(key)
            block.setdefault(last, m.group(2).strip())
            if key not in keys:
                keys.append(key)
        elif block and last is not None and colon is not None and raw[: colon + 2].strip() == "":
            # A wrapped value: the console cut a one-word value (a URL, a Uid) where the line was
            # full, and a value of words at a space.
            value = block[last]
            block[last] = value + (" " if " " in value else "") + line.strip()
        else:
            close()
    close()
    if len(rows) >= 2 or (rows and len(rows[0][1]) >= 3):
        return keys, rows
    return None


def format_table_rows(text: str) -> tuple[list[str], Rows] | None:
    """Rows of a ``Format-Table`` text (the first table in it), or ``None`` without a header line
    followed by a line of dash groups."""
    lines = [raw.rstrip("\r") for raw in text.split("\n")]
    for i in range(1, len(lines)):
        if not _DASHES.match(lines[i]) or not lines[i - 1].strip():
            continue
        spans = [(m.start(), m.end()) for m in _DASH_GROUP.finditer(lines[i])]
        header = lines[i - 1]
        names = [
            header[a : (spans[k + 1][0] if k + 1 < len(spans) else None)].strip()
            for k, (a, _) in enumerate(spans)
        ]
        if not all(names):
            continue
        rows: Rows = []
        for number in range(i + 2, len(lines) + 1):
            row = lines[number - 1]
            if not row.strip():
                if rows:
                    break
                continue
            cuts = [_cut(row, a) for a, _ in spans]
            cells = {}
            for k in range(len(spans)):
                b = cuts[k + 1] if k + 1 < len(spans) else None
                cells[norm_key(names[k])] = row[cuts[k] : b].strip()
            rows.append((number, cells, row.strip()))
        return names, rows
    return None


def _cut(row: str, at: int) -> int:
    """Where a row's cell starts: at its column's dash group, or further left when a value runs
    across that point (a right-aligned number column, a value wider than its header), at the
    space before that value."""
    if at <= 0 or at >= len(row) or row[at - 1] == " " or row[at] == " ":
        return at
    space = row.rfind(" ", 0, at)
    return space + 1 if space >= 0 else at


def powershell_rows(text: str) -> tuple[list[str], Rows] | None:
    """A ``Format-Table`` or ``Format-List`` text as header and rows, or ``None``."""
    return format_table_rows(text) or format_list_rows(text)


def powershell_keys(text: str) -> set[str]:
    """The normalised property names of a ``Format-List`` / ``Format-Table`` head (for sniffing)."""
    parsed = powershell_rows(text)
    return {norm_key(k) for k in parsed[0]} if parsed else set()
