"""vvolguard: the VASA control plane, seen, simulated and respected.

Public API (usable without the CLI)::

    from vvolguard import Thresholds, diagnose
    result = diagnose(["esx-03.tgz", "tasks.csv"], tz="Europe/Berlin")
    print(result.verdict.cls, [f.title for f in result.findings])

Everything in :data:`__all__` is the supported surface: :func:`diagnose`, its options
(:class:`Thresholds`, :class:`Limits`) and the types a :class:`Diagnosis` is made of.

Why the names are resolved lazily (module ``__getattr__``): every ``vvolguard`` command imports
this package first, and the analysis and evidence layers cost start-up time that commands which
do not diagnose must not pay (``tests/test_cli_startup.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime, tzinfo

    from vvolguard.analysis.model import (
        CoverageUse,
        Diagnosis,
        FailedMigration,
        FailureClass,
        Finding,
        InputFile,
        Migrations,
        MissingEvidence,
        Note,
        NoteKind,
        PESummary,
        ProviderSummary,
        Severity,
        StormWindow,
        Verdict,
    )
    from vvolguard.analysis.thresholds import Thresholds
    from vvolguard.evidence.source import EvidenceFile, Limits
    from vvolguard.pipeline import PathLike, ProgressHook
    from vvolguard.records import Citation, ReadWarning

#: Public name -> module that defines it, imported on first access.
_LAZY = {
    **dict.fromkeys(
        (
            "CoverageUse",
            "Diagnosis",
            "FailedMigration",
            "FailureClass",
            "Finding",
            "InputFile",
            "MissingEvidence",
            "Migrations",
            "Note",
            "NoteKind",
            "PESummary",
            "ProviderSummary",
            "Severity",
            "StormWindow",
            "Verdict",
        ),
        "vvolguard.analysis.model",
    ),
    "Thresholds": "vvolguard.analysis.thresholds",
    "EvidenceFile": "vvolguard.evidence.source",
    "Limits": "vvolguard.evidence.source",
    "Citation": "vvolguard.records",
    "ReadWarning": "vvolguard.records",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vvolguard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def diagnose(
    paths: PathLike | Iterable[PathLike],
    now: datetime | None = None,
    thresholds: Thresholds | None = None,
    on_file: ProgressHook | None = None,
    tz: tzinfo | str | None = None,
    limits: Limits | None = None,
) -> Diagnosis:
    """Diagnose every piece of evidence under ``paths`` (files, directories, bundles).

    ``now`` is when certificate horizons are judged "today" (default: the wall clock);
    ``thresholds`` overrides the decision thresholds; ``on_file`` is called with each
    :class:`EvidenceFile` before it is read (progress displays); ``tz`` (a tzinfo, an IANA name
    or an offset such as ``+02:00``) is the zone of exports whose times carry none; ``limits``
    caps decompression per input. Never raises on bad evidence: what could not be read is in
    ``Diagnosis.warnings``. See :func:`vvolguard.pipeline.diagnose`.
    """
    from vvolguard.pipeline import diagnose as _diagnose

    return _diagnose(paths, now=now, thresholds=thresholds, on_file=on_file, tz=tz, limits=limits)


def simulate(**options: Any) -> Any:
    """Run the VASA control-plane simulator (see ``vvolguard.sim``)."""
    from vvolguard.sim import simulate as _simulate

    return _simulate(**options)


__all__ = [
    "Citation",
    "CoverageUse",
    "Diagnosis",
    "EvidenceFile",
    "FailedMigration",
    "FailureClass",
    "Finding",
    "InputFile",
    "Limits",
    "Migrations",
    "MissingEvidence",
    "Note",
    "NoteKind",
    "PESummary",
    "ProviderSummary",
    "ReadWarning",
    "Severity",
    "StormWindow",
    "Thresholds",
    "Verdict",
    "__version__",
    "diagnose",
    "simulate",
]
