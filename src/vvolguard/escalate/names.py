"""Render names from the evidence (paths, archive member names, host names) safely, everywhere.

Why: a name is data the sender did not write, and the package is read by people and tools. A
newline in a tar member name would start a new line in the README, the manifest's Markdown
twin or an excerpt header (a forged "[x] present" line); a byte that is not UTF-8 (Linux paths
are bytes; Python hands them over as lone surrogates) cannot be written to a UTF-8 file at all;
bidi controls (U+202E) make a name read backwards. Every such character is shown as an escape
(``\\n``, ``\\xff``, ``\\u202e``): the name stays recognisable, and it is one line of plain text.
"""

from __future__ import annotations

import re

#: C0 and C1 controls, DEL, line/paragraph separators, bidi controls, and lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control, separator, bidi and undecodable character escaped."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def safe_component(name: str) -> str:
    """A portable archive path component (ASCII letters, digits, ``._@+-``), at most 120 chars."""
    cleaned = re.sub(r"[^A-Za-z0-9._@+-]+", "_", name).strip("._") or "file"
    return cleaned[:120]
