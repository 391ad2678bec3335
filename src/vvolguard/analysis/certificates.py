"""VASA provider certificates: days to expiry at the incident and today, and whether the
certificate names the host the provider is registered by.

Two clocks matter. An incident analysed weeks later must be judged by the certificate's state when
the migrations failed (a certificate that expired yesterday did not break last month's drain), while
the admin also needs to know what is about to break now. The limits are vCenter's own alarm levels
(KB 323232): soft limit 6 months (yellow), hard limit 1 month (red).

The name check follows RFC 6125 loosely: subjectAltName DNS names and IP addresses when present,
otherwise the subject CN; a ``*.`` wildcard covers exactly one left-most label. A mismatch is what
hostname verification rejects (KB 372508), so it supports a registration/trust finding.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from vvolguard.records import CertificateRecord, Citation, ProviderRecord

_CN = re.compile(r"(?:^|[,/]\s*)CN\s*=\s*([^,/+]+)", re.IGNORECASE)


def url_host(url: str | None) -> str | None:
    """The host part of a provider URL (``https://10.1.1.10:8084/vasa`` -> ``10.1.1.10``)."""
    if not url:
        return None
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def common_name(subject: str) -> str | None:
    match = _CN.search(subject or "")
    return match.group(1).strip() if match else None


def certificate_names(cert: CertificateRecord) -> list[str]:
    names = [n.lower().rstrip(".") for n in (*cert.dns_names, *cert.ip_addresses) if n]
    if not names:
        cn = common_name(cert.subject)
        if cn:
            names.append(cn.lower().rstrip("."))
    return names


def name_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    try:
        return ipaddress.ip_address(pattern) == ipaddress.ip_address(host)
    except ValueError:
        pass
    if pattern == host:
        return True
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return False


def expiry_status(days_left: float | None, soft_days: float, hard_days: float) -> str | None:
    """vCenter's alarm level for a certificate with this many days left."""
    if days_left is None:
        return None
    if days_left < 0:
        return "expired"
    if days_left < hard_days:
        return "hard-limit"
    if days_left < soft_days:
        return "soft-limit"
    return "valid"


def days_between(later: datetime, earlier: datetime | None) -> float | None:
    """Exact days from ``earlier`` to ``later`` (negative once ``later`` has passed). Statuses are
    judged on this; only the reported number is rounded (:func:`shown_days`), or a certificate
    that expired minutes before the incident would round to -0.0 and read as still valid."""
    if earlier is None:
        return None
    return (later - earlier).total_seconds() / 86400.0


def shown_days(days: float | None) -> float | None:
    """Days as reported: two decimals, and never ``-0.0``."""
    return None if days is None else (round(days, 2) or 0.0)


@dataclass
class CertificateAssessment:
    """One certificate as judged at the incident and now (``as_dict`` is the Diagnosis entry)."""

    subject: str
    issuer: str | None
    not_after: datetime
    days_left_at_incident: float | None
    days_left_now: float | None
    status_at_incident: str | None
    status_now: str | None
    matches_provider: bool | None
    provider: str | None
    provider_host: str | None
    names: list[str]
    citation: Citation | None
    source: str  # "certificate" (an X.509 file) or "provider" (expiry reported by SMS/PowerCLI)

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "not_after": self.not_after,
            "days_left_at_incident": self.days_left_at_incident,
            "days_left_now": self.days_left_now,
            "status_at_incident": self.status_at_incident,
            "status_now": self.status_now,
            "matches_provider": self.matches_provider,
            "provider": self.provider,
            "provider_host": self.provider_host,
            "names": self.names,
            "source": self.source,
            "citation": self.citation,
        }


def assess(
    certs: list[CertificateRecord],
    providers: list[ProviderRecord],
    incident: datetime | None,
    now: datetime,
    soft_days: float,
    hard_days: float,
) -> list[CertificateAssessment]:
    """Judge every certificate; tie each to the provider whose URL host it names.

    A certificate naming no provider is tied to the only provider when there is exactly one
    (with ``matches_provider=False``: that is the hostname-verification failure case); with several
    providers it stays unattached, as guessing would invent a mismatch.
    """
    urls: dict[str, str] = {}
    for p in providers:
        host = url_host(p.url)
        if host and p.name not in urls:
            urls[p.name] = host
    out: list[CertificateAssessment] = []
    seen: set[str] = set()
    for cert in certs:
        if cert.sha256 and cert.sha256 in seen:
            continue
        seen.add(cert.sha256)
        names = certificate_names(cert)
        provider = next(
            (name for name, host in urls.items() if any(name_matches(n, host) for n in names)), None
        )
        matches: bool | None
        if provider is not None:
            matches = True
        elif len(urls) == 1:
            provider, matches = next(iter(urls)), False
        else:
            matches = None
        out.append(
            _judge(
                cert.subject,
                cert.issuer,
                cert.not_after,
                incident,
                now,
                soft_days,
                hard_days,
                matches,
                provider,
                urls.get(provider or ""),
                names,
                cert.citation,
                "certificate",
            )
        )
    reported: set[str] = set()
    for p in providers:
        if p.certificate_expiry is None or p.name in reported:
            continue
        if any(a.provider == p.name and a.not_after == p.certificate_expiry for a in out):
            continue
        reported.add(p.name)
        out.append(
            _judge(
                f"certificate of provider {p.name}",
                None,
                p.certificate_expiry,
                incident,
                now,
                soft_days,
                hard_days,
                None,
                p.name,
                url_host(p.url),
                [],
                p.citation,
                "provider",
            )
        )
    return out


def _judge(
    subject: str,
    issuer: str | None,
    not_after: datetime,
    incident: datetime | None,
    now: datetime,
    soft_days: float,
    hard_days: float,
    matches: bool | None,
    provider: str | None,
    provider_host: str | None,
    names: list[str],
    citation: Citation | None,
    source: str,
) -> CertificateAssessment:
    at_incident = days_between(not_after, incident) if incident is not None else None
    at_now = days_between(not_after, now)
    return CertificateAssessment(
        subject=subject,
        issuer=issuer,
        not_after=not_after,
        days_left_at_incident=shown_days(at_incident),
        days_left_now=shown_days(at_now),
        status_at_incident=expiry_status(at_incident, soft_days, hard_days),
        status_now=expiry_status(at_now, soft_days, hard_days),
        matches_provider=matches,
        provider=provider,
        provider_host=provider_host,
        names=names,
        citation=citation,
        source=source,
    )
