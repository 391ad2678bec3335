"""Central syslog files in the traditional BSD format, made readable as ESXi's own stamps.

rsyslog's and syslog-ng's default file templates store a forwarded ESXi line as
``Mar 14 10:09:58 esx01.corp.local Vvold: info vvold[2099154] [Originator@6876 ...] ...``: the
RFC 3339 time ESXi sent is replaced by a BSD stamp with no year, no zone and no fraction. The
rest is the forwarded shape the vvold reader knows (host and ``App:`` tag before the line's own
level), so a file that starts with such stamps is rewritten, line by line as it streams, to
``2026-03-14T10:09:58Z esx01.corp.local Vvold: ...`` and read as usual. Line numbers stay; a cited
line shows the rewritten stamp. The year comes from a dated line in the file when there is one
(vvold's "time the service was last started 2026-..." header), else from the calendar, and rolls
over at a December-to-January step; the zone is ``--tz`` (else UTC), and both are said in a
warning on the file.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from vvolguard.evidence.pasted import normalised

if TYPE_CHECKING:
    from vvolguard.evidence.source import EvidenceFile

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS = {name.encode(): number for number, name in enumerate(_MONTH_NAMES, 1)}

#: A BSD-stamped record of a forwarded line: stamp, sending host, ``App:`` or ``App[pid]:`` tag.
BSD_LINE = re.compile(
    rb"(?m)^(<\d{1,3}>)?(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(\d{1,2}) "
    rb"(\d\d):(\d\d):(\d\d) (?=[^\s:]+ [A-Za-z][\w.-]*(?:\[\d+\])?: )"
)
_YEAR_HINT = re.compile(rb"\b(20\d\d)-\d\d-\d\dT\d\d:\d\d")


def looks_bsd(head: bytes) -> bool:
    """The file's first lines are BSD-stamped forwarded records."""
    return BSD_LINE.search(head[:65536]) is not None


class BsdRestamper:
    """Rewrites BSD stamps to RFC 3339 UTC in a stream of blocks (lines may span blocks)."""

    def __init__(self, head: bytes, tz: tzinfo | None, today: datetime) -> None:
        hint = _YEAR_HINT.search(head)
        self.year_from_file = hint is not None
        self.year = int(hint.group(1)) if hint else today.year
        self.tz = tz or UTC
        self.today = today
        self._last_month: int | None = None
        self._first = True

    def blocks(self, blocks: Iterator[bytes]) -> Iterator[bytes]:
        tail = b""
        for block in blocks:
            data = tail + block
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            if cut:
                yield BSD_LINE.sub(self._restamp, data[:cut])
        if tail:
            yield BSD_LINE.sub(self._restamp, tail)

    def _restamp(self, m: re.Match[bytes]) -> bytes:
        month = MONTHS[m.group(2)]
        if self._first and not self.year_from_file:
            # A file read in January whose first line is from December is last year's.
            first = datetime(self.year, month, 1, tzinfo=UTC)
            if first > self.today + timedelta(days=1):
                self.year -= 1
        self._first = False
        if self._last_month is not None and month < self._last_month - 6:
            self.year += 1  # December to January
        self._last_month = month
        try:
            local = datetime(
                self.year,
                month,
                int(m.group(3)),
                int(m.group(4)),
                int(m.group(5)),
                int(m.group(6)),
                tzinfo=self.tz,
            )
        except ValueError:  # 29 Feb of a year without one, 31 Apr: leave the line as it was
            return m.group(0)
        stamp = local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ ").encode()
        return (m.group(1) or b"") + stamp

    def warning(self) -> str:
        year = "from a dated line in the file" if self.year_from_file else "from the calendar"
        zone = (
            "UTC (say where the syslog server runs with --tz ZONE)"
            if self.tz is UTC
            else f"{self.tz}, as --tz says"
        )
        return (
            "central syslog file with BSD time stamps (no year, no zone, whole seconds): the year "
            f"was taken {year} ({self.year}) and the times as {zone}; cited lines show the "
            "stamps rewritten to UTC"
        )


def restamped(ef: EvidenceFile, blocks: Iterator[bytes]) -> Iterator[bytes]:
    """``blocks`` as they are, or, for a central syslog file with BSD stamps, with RFC 3339 stamps
    in their place; decided once per file, from its first block, so how a line reads never
    depends on where a block was cut. The year's source and the zone are said in a warning."""
    blocks = normalised(ef, blocks)  # UTF-16, pager and PowerShell prefixes, RFC 5424 first
    first = next(blocks, None)
    if first is None:
        return
    if not looks_bsd(first):
        yield first
        yield from blocks
        return
    restamper = BsdRestamper(first[:65536], ef.assume_tz, datetime.now(UTC))
    ef.warn(restamper.warning(), 1, caveat=True)
    yield from restamper.blocks(itertools.chain([first], blocks))
