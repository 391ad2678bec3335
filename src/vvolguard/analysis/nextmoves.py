"""The runbook's next moves per failure class, kept as data (quoted or condensed from the runbook
"vVol migrations are easy to misread", Stages 1-5, validation and fallback sections).

Kept apart from the decision logic so the advice can be reviewed against the runbook in one place,
and so renderers and the escalation package quote the same words.
"""

from __future__ import annotations

from vvolguard.analysis.model import FailureClass

NEXT_MOVES: dict[FailureClass, tuple[str, ...]] = {
    FailureClass.PROVIDER_SATURATION: (
        "Stop or pause noncritical migration waves; exit or pause maintenance-mode evacuation if it "
        "drives too many simultaneous migrations (runbook Stage 5).",
        "Do not mass-retry every failed migration: retry one affected VM after a cooldown; if it "
        "succeeds once the provider backlog clears, that confirms saturation (Stage 1).",
        "Migrate a small number of VMs at a time from the affected host while watching vvold.log; "
        "increase the batch size slowly only while the provider stays stable.",
        "Avoid stacking other VASA-heavy work in the same window (clone storms, snapshots, large "
        "policy changes, mass provisioning).",
        "Check the VASA provider appliance and the backend array management plane for load; ask the "
        "storage vendor whether a newer VASA provider version helps (KB 318662 resolution).",
        "Record the concurrency that ran cleanly as this environment's limit for future "
        "maintenance-mode work.",
    ),
    FailureClass.PROVIDER_REGISTRATION: (
        "Fix provider registration/trust before retrying migrations (runbook Stage 4).",
        "Check vCenter > Configure > Storage Providers: provider and sync status, certificate "
        "warnings, duplicate entries, URL/FQDN mismatch, recent re-registration or vCenter rebuild.",
        "Confirm the provider service is running and reachable (firewall, port) from every host: "
        "`esxcli storage vvol vasaprovider list` should show it online, not syncError.",
        "If hostname verification or certificate trust fails, follow the vendor's and Broadcom's "
        "supported re-authentication or re-registration process; do not re-register for saturation.",
        "After the fix, validate in layers: provider online, Protocol Endpoints accessible, no fresh "
        "errors in vvold.log, then one low-risk migration, then a small batch.",
    ),
    FailureClass.PE_PRESENTATION: (
        "Work with the storage team to map the Protocol Endpoint to the host (host group mapping, "
        "array presentation, zoning, masking), then rescan (runbook Stage 4).",
        "Validate with `esxcli storage vvol protocolendpoint list`: the relevant PEs must be "
        "accessible and configured on every host that runs these VMs.",
        "Do not treat this as provider saturation: unregistering the provider or reducing "
        "concurrency will not fix a missing PE.",
        "Keep powered-on VMs where they are if production I/O is healthy until the PE is presented.",
    ),
    FailureClass.CERTIFICATE_LIFECYCLE: (
        "Renew, refresh or re-authenticate the VASA provider certificate according to its "
        "ownership model (vendor-managed, VMCA-signed or CA-signed) (runbook Stage 4).",
        "An expired certificate breaks vCenter-to-provider communication and makes vVol datastores "
        "unusable for provisioning; expired provider certificates usually need the vendor's "
        "re-registration procedure.",
        "Do not ignore certificate warnings because the datastore is still online; put the "
        "VASA certificate alarm on the same dashboard as migration failures.",
        "After renewal, confirm the provider is online and in sync before retrying migrations.",
    ),
    FailureClass.NOT_CONTROL_PLANE: (
        "The provider and Protocol Endpoints look healthy and vvold shows no VASA pressure: look "
        "elsewhere (runbook Stage 4, last row).",
        "Check the vMotion network, host load, DRS, the array data path and VM-specific constraints "
        "(switchover time, config vVol size, hardware version with memory snapshots).",
        "Do not unregister/re-register the VASA provider or reboot hosts because of these failures.",
    ),
    FailureClass.HEALTHY: (
        "No action needed on the vVol control plane. Before the next maintenance wave, keep "
        "watching vvold.log and provider status, and batch migrations conservatively.",
    ),
    FailureClass.INSUFFICIENT_EVIDENCE: (
        "Collect the missing evidence listed below (at least vvold.log and `esxcli storage vvol "
        "vasaprovider list` from the source host of a failed migration), then diagnose again.",
        "Meanwhile pause migration waves from the affected host instead of retrying the failed "
        "batch (runbook Stage 1).",
    ),
}


def next_moves(cls: FailureClass | str) -> list[str]:
    return list(NEXT_MOVES[FailureClass(cls)])
