"""Every log sniffer and line pattern of the log readers is linear on any 64 KiB head (issue #17):
blank lines, runs of spaces, dashes, digits and colons, and long lines without the separators
the patterns look for. A quadratic pattern takes seconds here; a linear one milliseconds."""

from __future__ import annotations

import time

import pytest

from vvolguard.evidence import logline as ll
from vvolguard.evidence.hostlogs import HostdReader, VmkernelReader
from vvolguard.evidence.vcenterlogs import SPS_LINE_RE, SpsLogReader, VpxdLogReader, classify_sps
from vvolguard.evidence.vvold import VvoldReader

SIZE = 64 * 1024
HEADS = {
    "blank": b"\n" * SIZE,
    "spaces": b" " * SIZE,
    "dashes": b"-" * SIZE,
    "digits-dashes": b"1-" * (SIZE // 2),
    "digits-colons": b"1:" * (SIZE // 2),
    "long-line": b"x" * SIZE,
    "date-ish": b"2024-03-14T" * (SIZE // 11),
    "dash-lines": b"--\n" * (SIZE // 3),
}
READERS = [VvoldReader(), HostdReader(), VmkernelReader(), SpsLogReader(), VpxdLogReader()]


@pytest.mark.parametrize("name", list(HEADS))
def test_sniffers_and_line_patterns_are_linear(name: str) -> None:
    head = HEADS[name]
    text = head.decode()
    start = time.thread_time()
    for reader in READERS:
        reader.sniff("evidence.txt", head)
    for line in (text, text[: SIZE // 2]):
        ll.parse_line(line)
        ll.strip_grep_prefix(line)
        ll.continuation_text(line)
        SPS_LINE_RE.match(line)
        classify_sps(line)
    assert time.thread_time() - start < 1.0
