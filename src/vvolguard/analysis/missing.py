"""What evidence is absent, what it would settle, and the command that collects it.

Always filled, whatever the verdict: a confident verdict still names what would confirm it, and an
``insufficient-evidence`` verdict is only useful through this list.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from urllib.parse import urlsplit

from vvolguard.analysis.facts import Facts
from vvolguard.analysis.migrations import HostNames, host_key
from vvolguard.analysis.model import MissingEvidence
from vvolguard.records import EvidenceKind, ProviderRecord

VVOLD_PATTERN = "No free connections|PROVIDER_BUSY|bindVirtualVolume|createVirtualVolume|TimedOut|GetFreeConn"
VVOLD_GREP = f'grep -Ei "{VVOLD_PATTERN}" /var/run/log/vvold.log'


@dataclass(frozen=True)
class EvidenceSeen:
    """What the analysis was given, as far as the list of missing evidence needs to know."""

    names: HostNames
    listed: Mapping[str, set[str]]  # evidence kind -> host keys that gave it
    kinds: AbstractSet[str]  # every evidence kind read
    providers: list[ProviderRecord]
    migrations: int  # migration records read
    certificates: int  # certificates read
    vvold_urls: list[str]  # provider URLs named in vvold.log


def missing_evidence(seen: EvidenceSeen, f: Facts) -> list[MissingEvidence]:
    """The artifacts that are absent and what each would settle, with the command to get it."""
    out: list[MissingEvidence] = []
    hosts = f.involved_hosts or [host_key(h) for h in seen.names.all()]
    # with no host named anywhere: the host a vvold.log given alone came from, else the source
    placeholder = (
        "<the ESXi host of the vvold.log given>"
        if f.vvold_unnamed and not f.failed_migrations
        else "<source host of a failed migration>"
    )
    targets = [seen.names.display(h) or h for h in hosts][:5] or [placeholder]
    vp_hosts = seen.listed.get(EvidenceKind.VASAPROVIDER_LIST, set())
    pe_hosts = seen.listed.get(EvidenceKind.PROTOCOLENDPOINT_LIST, set())
    uncovered = {host_key(c.host): c for c in f.uncovered if c.host}
    for check in f.uncovered:
        shown = check.host or "<the host of the vvold.log given>"
        lo, hi = check.needed
        out.append(
            MissingEvidence(
                f"vvold.log of {shown} covering {lo:%Y-%m-%d %H:%M:%S}Z to {hi:%Y-%m-%d %H:%M:%S}Z "
                "(the rotated vvold.N.gz files)",
                f"the vvold.log given covers {check.start:%Y-%m-%d %H:%M:%S}Z to "
                f"{check.end:%Y-%m-%d %H:%M:%S}Z only, so it cannot show whether VASA calls waited "
                "for a free connection or got PROVIDER_BUSY around the failures; ESXi keeps 8 rotated "
                "generations next to it (/var/run/log or /scratch/log)",
                f"ssh root@{shown} 'ls -l /var/run/log/vvold* /scratch/log/vvold*; zcat -f "
                "/var/run/log/vvold.*.gz /var/run/log/vvold.log | "
                f'grep -Ei "{VVOLD_PATTERN}"\'   # or a full support bundle, which includes them: vm-support',
            )
        )
    for shown in targets:
        key = host_key(shown)
        # an uncovered host's vvold ask is above; its esxcli lists are still wanted
        if (
            key not in uncovered
            and key not in f.vvold_hosts
            and not f.vvold_unnamed
            and not (not f.involved_hosts and f.vvold_any)
        ):
            out.append(
                MissingEvidence(
                    f"vvold.log from {shown}",
                    "shows whether VASA calls waited for a free connection, got PROVIDER_BUSY or took "
                    "long "
                    "to create swap vVols around the failures (saturation vs. look elsewhere)",
                    f"ssh root@{shown} '{VVOLD_GREP}'   # or a full support bundle: vm-support",
                )
            )
        if key not in vp_hosts and EvidenceKind.VASA_PROVIDER_EXPORT not in seen.kinds:
            out.append(
                MissingEvidence(
                    f"esxcli storage vvol vasaprovider list (on {shown})",
                    "tells whether the provider is online, offline or in syncError "
                    "(registration vs. saturation)",
                    f"ssh root@{shown} 'esxcli storage vvol vasaprovider list'",
                )
            )
        if key not in pe_hosts:
            out.append(
                MissingEvidence(
                    f"esxcli storage vvol protocolendpoint list (on {shown})",
                    "tells whether the Protocol Endpoints are accessible and configured (PE presentation)",
                    f"ssh root@{shown} 'esxcli storage vvol protocolendpoint list'",
                )
            )
    trust = f.connect_failures or f.ssl_total or f.bad_providers
    if trust and EvidenceKind.SPS_LOG not in seen.kinds:
        out.append(
            MissingEvidence(
                "vCenter's sps.log (Storage Monitoring Service)",
                "shows the provider from vCenter's side: SetContext failures, certificate errors "
                "(certificate_unknown, self signed certificate) and sync failures, with their times "
                "(registration and trust vs. a passing overload)",
                'ssh root@<vcenter> \'grep -Ei "SetContext|certificate|SSL|sync" '
                "/var/log/vmware/vmware-sps/sps.log'   # or a vc-support bundle",
            )
        )
    if not seen.providers:
        out.append(
            MissingEvidence(
                "vCenter storage provider inventory",
                "provider status and certificate expiry as vCenter sees them",
                "Get-VasaProvider -Refresh | Select-Object * | "
                "Export-Csv vasa-providers.csv -NoTypeInformation",
            )
        )
    if not seen.migrations:
        out.append(
            MissingEvidence(
                "vCenter migration tasks",
                "which migrations failed, from which source host, and how many ran at once (storm)",
                "Get-Task | Where-Object { $_.Name -match 'Migrat|Relocat' } | Select-Object * | "
                "ConvertTo-Json -Depth 4 > tasks.json",
            )
        )
    if not seen.certificates and not any(p.certificate_expiry for p in seen.providers):
        urls = [p.url for p in seen.providers if p.url]
        urls += seen.vvold_urls  # vvold names it too
        host = next((e for e in map(_endpoint, urls) if e), None) or "<provider-host>:<port>"
        out.append(
            MissingEvidence(
                "VASA provider certificate",
                "days to expiry and whether it names the provider URL host (certificate lifecycle, trust)",
                f"openssl s_client -connect {host} -showcerts </dev/null | "
                "openssl x509 -noout -subject -issuer -dates -ext subjectAltName",
            )
        )
    return out


def _endpoint(url: str) -> str | None:
    """``host:port`` of a provider URL, for ``openssl s_client -connect``."""
    try:
        parts = urlsplit(url if "//" in url else "//" + url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return f"{host}:{port or (80 if parts.scheme == 'http' else 443)}"
