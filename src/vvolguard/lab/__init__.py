"""``vvolguard lab``: a simulated vCenter with a scenario's incident, to try the live commands on.

One call starts it all (:func:`start_lab`, a context manager): the govmomi-based vCenter
simulator (``drain/vcsim``, lab mode) with TLS from a CA the lab makes, the scenario's task and
event history, an SMS endpoint, vVol datastores and Protocol Endpoints, and one SSH endpoint per
host serving its vvold.log and esxcli outputs. docs/lab.md is the contract clients build on.
"""

from __future__ import annotations

from vvolguard.lab.runner import (
    DEFAULT_USER,
    KNOWN_PRIVILEGES,
    LIMITED_USER,
    LabError,
    LabInfo,
    LabOptionError,
    start_lab,
)

__all__ = [
    "DEFAULT_USER",
    "KNOWN_PRIVILEGES",
    "LIMITED_USER",
    "LabError",
    "LabInfo",
    "LabOptionError",
    "start_lab",
]
