"""evidence paths -> readers -> records -> Analyzer -> Diagnosis.

The one place that wires the layers together, so the CLI, the demo, the escalation package and
library users all diagnose the same way. It streams: each file is read once, its records folded
into the analyzer as they come, and dropped.

A reader that breaks on some input is a bug, but the user's 3 a.m. diagnosis must not die of it:
the exception becomes a warning naming the file, and the other files still count.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol

from vvolguard.analysis.engine import Analyzer
from vvolguard.analysis.model import Diagnosis, InputFile
from vvolguard.analysis.thresholds import Thresholds
from vvolguard.evidence.collect import Collector
from vvolguard.evidence.sniff import also_readers, dated_rows, foreign_kind, sniff
from vvolguard.evidence.source import EvidenceFile, Limits
from vvolguard.records import EvidenceKind

PathLike = str | os.PathLike[str]
#: Called once per evidence file before it is read (for progress displays).
ProgressHook = Callable[[EvidenceFile], None]


def diagnose(
    paths: PathLike | Iterable[PathLike],
    now: datetime | None = None,
    thresholds: Thresholds | None = None,
    on_file: ProgressHook | None = None,
    tz: tzinfo | str | None = None,
    limits: Limits | None = None,
) -> Diagnosis:
    """Diagnose every piece of evidence under ``paths``.

    ``now`` is when certificate horizons are judged "today" (defaults to the wall clock); the
    incident time is taken from the evidence itself. ``tz`` (a tzinfo, an IANA name or an offset
    such as ``+02:00``) is the zone in which exports without offsets (vSphere Client CSVs, a
    PuTTY log's clock) were written; without it they are read as UTC, with a warning.
    ``limits`` caps decompression per input (expanded size, nesting depth; see
    :class:`~vvolguard.evidence.source.Limits`).
    """
    if isinstance(tz, str):
        from vvolguard.evidence.dates import parse_tz

        tz = parse_tz(tz)
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    now = now or datetime.now(UTC)
    analyzer = Analyzer(now=now, thresholds=thresholds or Thresholds())
    with Collector(list(paths), limits=limits or Limits()) as collector:
        for ef in collector:
            ef.assume_tz = tz
            if on_file is not None:
                on_file(ef)
            analyzer.add_input(_read_one(ef, analyzer))
        for warning in collector.warnings:
            analyzer.add(warning)
    return analyzer.finish()


class RecordSink(Protocol):
    """Where a file's records go: the :class:`Analyzer`, or anything that folds records the same
    way (``vvolguard fleet`` folds each file into a small summary)."""

    def add(self, record: Any) -> None: ...


def read_file(ef: EvidenceFile, sink: RecordSink) -> InputFile:
    """Read one evidence file into ``sink`` exactly as :func:`diagnose` does (sniffing, the extra
    readers of a central syslog file, a reader's exception turned into a warning naming the
    file, the file's warnings added once)."""
    return _read_one(ef, sink)


def _read_one(ef: EvidenceFile, analyzer: RecordSink) -> InputFile:
    reader, _confidence = sniff(ef)
    count = 0
    if reader is None:
        if ef.head_damage:
            ef.warnings.extend(ef.head_damage)  # damaged before anything could be recognised
        elif not ef.warnings:
            ef.warn(_unknown_format_message(ef))
            unread = getattr(analyzer, "add_unread_table", None)
            if (
                unread is not None
                and ef.size
                and foreign_kind(ef.head(64), ef.name) is None
                and dated_rows(ef.head())
            ):
                unread(ef.display)
    else:
        for each in (reader, *also_readers(ef, reader)):
            try:
                for record in each.read(ef):
                    analyzer.add(record)
                    count += 1
            except Exception as exc:  # a reader bug must not lose the rest of the evidence
                ef.warn(
                    f"could not be fully read ({type(exc).__name__}: {exc}); used {count} records before it"
                )
    # a file read by several readers (a central syslog file) must not say the same thing twice
    for warning in dict.fromkeys(ef.warnings):
        analyzer.add(warning)
    return InputFile(file=ef.display, kind=str(ef.kind), host=ef.host, records=count)


def _unknown_format_message(ef: EvidenceFile) -> str:
    if ef.size == 0:
        return "empty file; nothing to read"
    what = foreign_kind(ef.head(64), ef.name)
    if what is not None:
        return f"{what}, not a log or export; skipped"
    return (
        "unknown format: not a vvold/hostd/vmkernel log, esxcli storage vvol output, vCenter task or "
        "event export, Get-VasaProvider export or certificate; skipped"
    )


def usable(diagnosis: Diagnosis) -> bool:
    """True when at least one input gave records, or a watch run covered part of the ``--since``
    window (exit code 2 otherwise)."""
    if diagnosis.watch is not None and diagnosis.watch.get("runs"):
        return True
    return any(i.records > 0 and i.kind != EvidenceKind.GROUND_TRUTH for i in diagnosis.inputs)


def add_watch_history(
    diagnosis: Diagnosis, since: datetime, until: datetime | None = None, store: PathLike | None = None
) -> Diagnosis:
    """``diagnose --since``: what ``vvolguard watch`` saw from ``since`` to ``until`` (now), read
    from the local store, as notes every renderer shows and as the JSON ``watch`` field. What
    watch could not see is said too; nothing here changes the verdict the files gave."""
    from pathlib import Path

    from vvolguard import store as store_mod
    from vvolguard.analysis.model import Note, NoteKind
    from vvolguard.watch.history import read_history

    path = Path(store) if store is not None else store_mod.default_path()
    history = read_history(path, since, until or diagnosis.now or datetime.now(UTC))
    for text, hosts in history.saw:
        diagnosis.notes.append(Note(NoteKind.WATCH_HISTORY, f"watch: {text}", hosts=hosts))
    for text in history.cannot_conclude:
        diagnosis.notes.append(Note(NoteKind.WATCH_HISTORY, f"watch cannot tell: {text}"))
    diagnosis.watch = history.to_dict()
    return diagnosis
