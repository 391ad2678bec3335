"""Which failed relocations are VASA pressure (cut the wave) and which name another cause (only
stop growing): vCenter's bare "A system error occurred." is the KB 318662 symptom."""

from __future__ import annotations

import pytest

from vvolguard.drain.backends.base import RelocateState, TaskOutcome, is_pressure_failure


@pytest.mark.parametrize(
    ("error", "fault", "pressure"),
    [
        ("A system error occurred.", "vmodl.fault.SystemError", True),
        ("A system error occurred", None, True),
        (None, "vmodl.fault.SystemError", True),
        ("A general system error occurred: Failed to create swap file", "vmodl.fault.SystemError", True),
        ("A general system error occurred: VASA provider busy", "vmodl.fault.SystemError", True),
        ("Virtual Volume creation failed on the Protocol Endpoint", None, True),
        (
            "A general system error occurred: Source detected that destination failed to resume.",
            "vmodl.fault.SystemError",
            False,
        ),
        ("The operation is not allowed in the current state.", "vim.fault.InvalidState", False),
        ("Insufficient resources to satisfy configured failover level for vSphere HA.", None, False),
        ("Maximum switchover time for migration exceeded", None, False),
    ],
)
def test_is_pressure_failure(error: str | None, fault: str | None, pressure: bool) -> None:
    assert is_pressure_failure(TaskOutcome(RelocateState.ERROR, error, fault)) is pressure


def test_only_a_failed_or_vanished_task_can_be_pressure() -> None:
    assert not is_pressure_failure(TaskOutcome(RelocateState.SUCCESS, "A system error occurred."))
    assert not is_pressure_failure(TaskOutcome(RelocateState.RUNNING, "A system error occurred."))
    assert is_pressure_failure(TaskOutcome(RelocateState.ERROR, "A system error occurred."))
    # A task vCenter no longer knows and whose VM did not move: nothing says it was not pressure.
    assert is_pressure_failure(TaskOutcome(RelocateState.MISSING))
