"""Bytes of Windows and ESXi tools as text, and line numbers of offsets into that text.

PowerShell writes UTF-16 when output is redirected with ``>``, ``Export-Csv`` writes UTF-8 with a
BOM; the structured readers read a whole (small) file, so the size is capped here.
"""

from __future__ import annotations

from vvolguard.evidence.source import EvidenceFile
from vvolguard.evidence.warner import Warn

#: Largest structured export read in one piece. These files are kilobytes to a few megabytes in
#: practice; anything bigger is not what it claims to be, and reading it would cost memory.
TEXT_LIMIT = 64 * 1024 * 1024


def decode(data: bytes) -> str:
    """Decode bytes from Windows or ESXi tools, honouring BOMs.

    Windows PowerShell 5.1 writes UTF-16LE with a BOM for ``>`` and ``Out-File``; ``Export-Csv``
    writes ASCII or UTF-8 with a BOM. A UTF-16 file without a BOM is recognised by its zero bytes.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le", "replace")
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be", "replace")
    sample = data[:512]
    if len(sample) >= 8:
        even_zero = sample[1::2].count(0)
        odd_zero = sample[0::2].count(0)
        half = len(sample) // 2
        if even_zero > 0.4 * half and odd_zero < 0.05 * half:
            return data.decode("utf-16-le", "replace")
        if odd_zero > 0.4 * half and even_zero < 0.05 * half:
            return data.decode("utf-16-be", "replace")
    return data.decode("utf-8", "replace")


def head_text(head: bytes) -> str:
    """The sniffing bytes as text. A UTF-16 head may end mid-character; that costs nothing."""
    if len(head) % 2 and (head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[1:64:2].count(0) > 8):
        head = head[:-1]
    return decode(head)


def read_text(ef: EvidenceFile, warn: Warn, limit: int = TEXT_LIMIT) -> str | None:
    """The whole (decompressed, decoded) file, or ``None`` with a warning when over ``limit``."""
    out = bytearray()
    for block in ef.blocks():
        out += block
        if len(out) > limit:
            warn(f"larger than {limit // (1024 * 1024)} MiB, too big for this kind of evidence; skipped")
            return None
    return decode(bytes(out))


class LineIndex:
    """Line numbers of character offsets, counted incrementally (offsets mostly increase).

    Avoids materialising a table of every line start for a multi-megabyte export.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._pos = 0
        self._line = 1

    def line_of(self, pos: int) -> int:
        pos = max(0, min(pos, len(self.text)))
        if pos >= self._pos:
            self._line += self.text.count("\n", self._pos, pos)
        else:
            self._line -= self.text.count("\n", pos, self._pos)
        self._pos = pos
        return self._line
