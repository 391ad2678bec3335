"""Read evidence as blocks of complete, length-capped lines, for everything the package copies.

Why not :meth:`EvidenceFile.lines`: the package must stay bounded on input nobody would write on
purpose (a gzip bomb of zeros is one line of gigabytes; a 2 GiB ``tasks.csv`` without a newline).
Here a line is cut at :data:`LINE_KEEP` bytes *before* it is held: the bytes past the cap are
counted and dropped as they stream by, and the line ends with a note saying how much was left
out. Blocks are handed out as one ``str`` of complete lines each, so callers can work on them
vectorised (polars) or split them cheaply; nothing here grows with a line or with the file.

Memory: one raw block (:data:`BLOCK_BYTES`) plus its decoded text plus at most :data:`LINE_KEEP`
bytes of a line that continues into the next block.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass

from vvolguard.evidence.source import EvidenceFile

#: Bytes kept of one line; the rest is dropped with a note. Real vvold/hostd/vmkernel lines are
#: well under 2 KiB; hostd SOAP dumps can reach a few KiB.
LINE_KEEP = 16 * 1024
#: Decompressed bytes read at a time.
BLOCK_BYTES = 1024 * 1024


def cut_note(dropped: int) -> str:
    return f" [vvolguard: line cut here, {dropped} more bytes left out]"


@dataclass
class LineStats:
    """What the reader did to the lines of one file (for the manifest's notes)."""

    lines: int = 0
    cut_lines: int = 0


def text_blocks(
    ef: EvidenceFile, keep: int = LINE_KEEP, block_bytes: int = BLOCK_BYTES, stats: LineStats | None = None
) -> Generator[str, None, None]:
    """Yield ``ef`` as blocks of complete lines (joined by ``\\n``, no trailing newline).

    Every line is at most ``keep`` bytes plus a :func:`cut_note`; CRs before the newline are
    removed; bytes that are not UTF-8 become U+FFFD. A stream that ends without a newline gives
    its last line too.
    """
    stats = stats if stats is not None else LineStats()
    long_line = re.compile(rb"(?m)^[^\n]{%d,}" % (keep + 1))

    def cut(match: re.Match[bytes]) -> bytes:
        stats.cut_lines += 1
        return match.group(0)[:keep] + cut_note(len(match.group(0)) - keep).encode()

    carry = b""  # the start of a line that continues in the next block (at most keep bytes)
    skipped = -1  # >= 0: inside an over-long line, this many bytes dropped so far
    for block in ef.blocks(block_bytes):
        start = 0
        if skipped >= 0:
            newline = block.find(b"\n")
            if newline < 0:
                skipped += len(block)
                continue
            skipped += newline
            stats.cut_lines += 1
            head = carry + cut_note(skipped).encode()
            carry, skipped, start = b"", -1, newline + 1
            stats.lines += 1
            yield _decode(head)
        last = block.rfind(b"\n")
        if last < start:  # no line ends in this block
            rest = carry + block[start:]
            if len(rest) > keep:
                carry, skipped = rest[:keep], len(rest) - keep
            else:
                carry = rest
            continue
        body = carry + block[start:last]
        carry = b""
        rest = block[last + 1 :]
        if len(rest) > keep:
            carry, skipped = rest[:keep], len(rest) - keep
        else:
            carry = rest
        if len(body) > keep and _has_long_line(body, keep):
            body = long_line.sub(cut, body)
        stats.lines += body.count(b"\n") + 1
        yield _decode(body)
    if skipped >= 0:
        stats.cut_lines += 1
        stats.lines += 1
        yield _decode(carry + cut_note(skipped).encode())
    elif carry:
        stats.lines += 1
        yield _decode(carry)


def _has_long_line(data: bytes, keep: int) -> bool:
    """Whether a line of ``data`` is longer than ``keep`` bytes, in about ``len(data) / keep``
    C-speed searches (the cutting regex costs a step per line start: slow on blank lines)."""
    start, end = 0, len(data)
    while end - start > keep:
        newline = data.rfind(b"\n", start, start + keep + 1)
        if newline < 0:
            return True
        start = newline + 1
    return False


def _decode(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text.replace("\r\n", "\n").removesuffix("\r") if "\r" in text else text
