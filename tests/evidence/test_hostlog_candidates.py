"""The hostd/vmkernel readers find their candidate lines in one Aho-Corasick pass; the old way,
a lower-cased copy and one scan per keyword, must find exactly the same lines."""

from __future__ import annotations

import random

from vvolguard.evidence import hostlogs
from vvolguard.evidence.hostlogs import _candidate_lines, _candidate_lines_by_scans


def _text(seed: int) -> bytes:
    rng = random.Random(seed)
    words = [k.decode() for k in hostlogs._KEYWORDS] + [hostlogs._SECTION_KEYWORD.decode()]
    filler = ["hostd[2099154]", "info", "opID=abc", "Ünïcode", "日本", "vMotion", "network", "--"]
    lines = []
    for _ in range(400):
        parts = [rng.choice(filler) for _ in range(rng.randint(0, 6))]
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            word = rng.choice(words)
            word = rng.choice((word, word.upper(), word.title(), word.capitalize()))
            parts.insert(rng.randint(0, len(parts)), word)
        lines.append(" ".join(parts))
    # overlapping keywords, both kinds on one line, a keyword at the very start and end
    lines += [
        "network is unreachable and network unreachable",
        "Section for VMware ESX, pid=1, version=7.0.3, build=1 vMotion failed",
        "Section for VMware ESX, pid=1, version=7.0.3, build=1",
        hostlogs._KEYWORDS[0].decode(),
    ]
    return ("\n".join(lines) + "\n" + hostlogs._KEYWORDS[-1].decode()).encode()


def test_one_pass_finds_the_lines_the_scans_find() -> None:
    for seed in range(5):
        data = _text(seed)
        found = _candidate_lines(data)
        assert found == _candidate_lines_by_scans(data)
        assert any(found.values()) and not all(found.values())


def test_bytes_that_are_not_utf8_take_the_scans_with_the_same_lines() -> None:
    data = b"\xff\xfe junk\n2026-03-14T10:00:00Z info hostd[1] vMotion FAILED \xc3\n"
    assert _candidate_lines(data) == _candidate_lines_by_scans(data) == {8: False}


def test_prefixed_headers_are_counted_as_python_counts_them() -> None:
    """Coverage counts the timed lines of a prefixed file (grep, a relay) by polars' regex; it
    must count what the line pattern counts, and bytes that are not UTF-8 fall back to it."""
    from vvolguard.evidence.hostlogs import _HEADER_ANY_B, _count_headers

    lines = [
        "vvold.log:12:2026-03-14T10:00:00.000Z info hostd[1] a",
        "vvold.log-13-2026-03-14T10:00:01.000Z info hostd[1] b",
        "--> continuation",
        "<166>Mar 14 10:09:58 10.100.101.102 2026-03-14T10:09:58.120Z esx01 Hostd: info hostd[2] c",
        "Mar  4 10:09:58 relay:514 2026-03-14T10:09:58.120Z esx01 Hostd: info hostd[2] d",
        "not a header 2026-03-14T10:09:58.120Z",
        "",
        "2026-03-14T10:00:02Z e",
    ]
    for data in ("\n".join(lines * 50).encode(), "\n".join(lines).encode() + b"\n\xff\n" + lines[0].encode()):
        assert _count_headers(data) == sum(1 for _ in _HEADER_ANY_B.finditer(data)) > 0
