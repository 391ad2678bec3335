"""vvolguard: the VASA control plane, seen, simulated and respected.

Public API (usable without the CLI)::

    from vvolguard import diagnose
    result = diagnose(["esx-03.tgz", "tasks.csv"])
    print(result.verdict.cls)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from vvolguard.analysis.model import Diagnosis


def diagnose(paths: Any, **options: Any) -> Diagnosis:
    """Read every piece of evidence under ``paths`` and return a Diagnosis (see pipeline)."""
    from vvolguard.pipeline import diagnose as _diagnose

    return _diagnose(paths, **options)


def simulate(**options: Any) -> Any:
    """Run the VASA control-plane simulator (see ``vvolguard.sim``)."""
    from vvolguard.sim import simulate as _simulate

    return _simulate(**options)


__all__ = ["__version__", "diagnose", "simulate"]
