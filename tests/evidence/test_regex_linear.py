"""Every regex of the structured readers and of sniffing runs in linear time on any 64 KiB head.

Why (issue 17): ``^\\s+Lun ?Id:`` with MULTILINE let ``\\s+`` run from every line start across all
the blank lines below it, so a 5 MB file of blank lines cost minutes per file. The patterns are
collected from the modules themselves (module globals, tuples and dicts of them, and the reader
objects that hold them), so a pattern added later is checked without anyone listing it here.

Each pattern runs (``finditer``, which covers ``search``, ``sub`` and ``split``) over inputs
that defeat careless patterns: blank lines, CRLF, runs of spaces and tabs, long lines without
the separators the pattern expects. Time is compared between 16 KiB and 64 KiB: linear work
grows about 4x, quadratic 16x; a generous absolute cap catches anything slower still. The time
is the test thread's CPU time, not the wall clock: other processes' load (CI runs beside other
jobs) stretches the wall clock but not the work a pattern does.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

MODULES = (
    "vvolguard.evidence.esxcli",
    "vvolguard.evidence.values",
    "vvolguard.evidence.dates",
    "vvolguard.evidence.jsonitems",
    "vvolguard.evidence.csvrows",
    "vvolguard.evidence.vcenter_exports",
    "vvolguard.evidence.tasks",
    "vvolguard.evidence.events",
    "vvolguard.evidence.providers",
    "vvolguard.evidence.certificates",
    "vvolguard.evidence.transcript",
    "vvolguard.evidence.sniff",
    "vvolguard.evidence.hostnames",
    "vvolguard.evidence.bundles",
    "vvolguard.evidence.pasted",
    "vvolguard.evidence.pstext",
)

SMALL = 16 * 1024
BIG = 64 * 1024
#: Absolute cap for one pattern over 64 KiB, far above what linear work costs (about 1 ms).
CAP_S = 1.0
#: Below this the timer is noise; ratios are only judged above it.
FLOOR_S = 0.02
#: Linear is about 4 between 16 and 64 KiB, quadratic 16.
MAX_RATIO = 9.0


def _inputs(n: int) -> dict[str, str]:
    """Inputs of about ``n`` characters that make backtracking patterns go quadratic."""
    return {
        "blank lines": "\n" * n,
        "CRLF blank lines": "\r\n" * (n // 2),
        "one run of spaces": " " * n,
        "lines of spaces": (" " * 63 + "\n") * (n // 64),
        "spaces and tabs": " \t" * (n // 2),
        "indented blank lines": "   \n" * (n // 4),
        "one long word": "a" * n,
        "long line of words": "ab " * (n // 3),
        "commas without the column": "a," * (n // 2),
        "quoted cells": '"a",' * (n // 4),
        "colons without spaces": "x:" * (n // 2),
        "digits": "1" * n,
        "dashes": "-" * n,
        "PuTTY rule": "=~" * (n // 2),
        "asterisks": "*" * n,
        "at signs": "a@" * (n // 2),
        "escape sequences": "\x1b[" * (n // 2),
        "brackets": "[" * n,
        "date-like": "2026-03-14 " * (n // 11),
        "type names": "VMware." * (n // 7),
    }


def _literal_prefix(pattern: re.Pattern[Any]) -> str | None:
    """The literal text a pattern starts with (``"specversion"`` of ``"specversion"[ \t]*:...``).

    Repeating it is the input that makes ``prefix.*?rest`` patterns rescan the text from every
    occurrence, the quadratic case that blank lines do not reveal.
    """
    source = pattern.pattern.decode("latin-1") if isinstance(pattern.pattern, bytes) else pattern.pattern
    source = re.sub(r"^(?:\(\?[a-z]+\))?\^?", "", source)
    out = []
    for ch in source:
        if ch in "\\.^$*+?{}[]()|":
            break
        out.append(ch)
    text = "".join(out)
    return text if len(text) >= 3 else None


def _collect(value: Any, found: dict[str, re.Pattern[Any]], where: str, depth: int = 0) -> None:
    if depth > 4:
        return
    if isinstance(value, re.Pattern):
        found.setdefault(f"{where}: {value.pattern!r}"[:160], value)
    elif isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            _collect(item, found, f"{where}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect(item, found, f"{where}[{key!r}]", depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _collect(getattr(value, f.name), found, f"{where}.{f.name}", depth + 1)
    elif hasattr(value, "__dict__") and type(value).__module__.startswith("vvolguard."):
        for name, item in vars(value).items():
            _collect(item, found, f"{where}.{name}", depth + 1)


def all_patterns() -> dict[str, re.Pattern[Any]]:
    found: dict[str, re.Pattern[Any]] = {}
    for name in MODULES:
        module: ModuleType = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, ModuleType) or attr.startswith("__"):
                continue
            if isinstance(value, type) and value.__module__ == name:  # class attributes (readers)
                for cattr, cvalue in vars(value).items():
                    _collect(cvalue, found, f"{name}.{attr}.{cattr}")
                continue
            _collect(value, found, f"{name}.{attr}")
    return found


PATTERNS = all_patterns()


def _run(pattern: re.Pattern[Any], text: str, repeat: int = 3) -> float:
    subject: str | bytes = text.encode("latin-1", "replace") if isinstance(pattern.pattern, bytes) else text
    best = float("inf")
    for _ in range(repeat):
        start = time.thread_time()
        for _match in pattern.finditer(subject):  # type: ignore[arg-type]
            pass
        best = min(best, time.thread_time() - start)
    return best


def test_the_collector_finds_the_patterns_that_matter() -> None:
    """The walk reaches patterns inside reader objects and tuples, not only plain globals."""
    texts = {p.pattern for p in PATTERNS.values()}
    assert r"^[ \t]+Lun ?Id:" in texts  # EsxcliListReader.markers (a dataclass field)
    assert any("Migration of virtual machine" in str(t) for t in texts)  # vcenter_exports tuples
    assert any("PuTTY log" in str(t) for t in texts)  # transcript
    assert any(isinstance(p.pattern, bytes) for p in PATTERNS.values())  # certificates
    assert len(PATTERNS) >= 40


def _cases() -> Iterator[Any]:
    for label in sorted(PATTERNS):
        yield pytest.param(label, id=label[:90])


@pytest.mark.parametrize("label", [p.values[0] for p in _cases()])
def test_pattern_is_linear_on_hostile_heads(label: str) -> None:
    pattern = PATTERNS[label]
    small, big = _inputs(SMALL), _inputs(BIG)
    prefix = _literal_prefix(pattern)
    if prefix:
        for inputs, n in ((small, SMALL), (big, BIG)):
            inputs["repeated literal prefix"] = (prefix + " 1, ") * (n // (len(prefix) + 4))
    slow: list[str] = []
    for kind in small:
        t_small = _run(pattern, small[kind])
        if t_small > CAP_S / 4:  # already too slow at 16 KiB; 64 KiB would only waste time
            slow.append(f"{kind}: {t_small:.3f} s at 16 KiB")
            continue
        t_big = _run(pattern, big[kind])
        if t_big > FLOOR_S and t_big > MAX_RATIO * max(t_small, 1e-6):
            # two cores shared with other jobs: a pause can land in one timing; measure again
            t_small, t_big = _run(pattern, small[kind], 7), _run(pattern, big[kind], 7)
        if t_big > CAP_S or (t_big > FLOOR_S and t_big > MAX_RATIO * max(t_small, 1e-6)):
            slow.append(f"{kind}: {t_small * 1000:.1f} ms at 16 KiB, {t_big * 1000:.1f} ms at 64 KiB")
    assert not slow, f"{label} is not linear: " + "; ".join(slow)


@pytest.mark.parametrize(
    ("old", "hostile"),
    [
        (re.compile(r"^\s+Lun ?Id:", re.MULTILINE), "\n"),  # the esxcli marker of issue 17
        (
            re.compile(r'"specversion"\s*:.*?"subject"\s*:\s*"Vm\w*(?:Migrat|Relocat)', re.I | re.S),
            '"specversion": 1, ',
        ),
        (re.compile(r"(?:\d+:)?\d{4}-\d{2}"), "1"),  # esxcli's old log-line test
    ],
)
def test_the_check_catches_the_quadratic_patterns_it_replaced(old: re.Pattern[str], hostile: str) -> None:
    """The measurement itself must be able to fail: the patterns this module replaced are caught."""
    unit = len(hostile)
    t_small = _run(old, hostile * (4096 // unit), 5)
    t_big = _run(old, hostile * (16384 // unit), 5)
    assert t_big > 6 * t_small  # quadratic: about 16
