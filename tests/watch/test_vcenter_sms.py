"""``watch --vcenter``: the VASA providers' status and certificate expiry from vCenter's SMS
service, against the lab (the govmomi simulator with an SMS endpoint, ``vvolguard.lab``)."""

from __future__ import annotations

import pytest
from tests.conftest import require_tool

from vvolguard.lab import start_lab
from vvolguard.watch.vcenter import VCenterWatch, collect

pytestmark = pytest.mark.vcsim


def _samples(vc: VCenterWatch, name: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value for m in collect([vc]) for s in m.samples if s.name == name
    }


@pytest.mark.parametrize(
    ("scenario", "variant", "status", "days"),
    [
        ("saturation", None, "online", (30, 5000)),
        ("certificate", "near-expiry", "online", (0, 5)),
        ("registration", "offline", "offline", (30, 5000)),
    ],
)
def test_provider_status_and_certificate_expiry_from_sms(
    scenario: str, variant: str | None, status: str, days: tuple[float, float]
) -> None:
    require_tool("go", "builds the govmomi vCenter simulator the lab serves")
    with start_lab(scenario, variant=variant) as info:
        vc = VCenterWatch(
            f"https://127.0.0.1:{info.port}/sdk", info.user, info.password, ca_file=info.ca_file, interval=1
        )
        try:
            vc.poll_once()
            assert vc.view.up and not vc.view.errors
            url = "https://10.21.88.113:8084/vasa"
            state = _samples(vc, "vvolguard_vasa_provider_status")
            assert state == {(("provider", "pure-ct0"), ("status", status), ("url", url)): 1}
            [expiry] = _samples(vc, "vvolguard_vcenter_provider_certificate_expiry_days").values()
            assert days[0] < expiry <= days[1]
        finally:
            vc.stop()
