"""VASA providers from vCenter's Storage Monitoring Service, as ``Get-VasaProvider -Refresh`` shows
them, and each provider's certificate from a TLS handshake to its URL.

Why both: SMS says what vCenter thinks (status, ``statusFault``, arrays, certificate expiry,
docs/evidence-formats.md §4.1); the handshake shows the certificate the provider really serves
now, which is what the hosts' vvold sees (§1.12). SMS is reached with pyVmomi's ``sms`` bindings
at ``/sms/sdk`` on the vCenter session (its cookie passed as ``vcSessionCookie``, never written
anywhere). The SMS version spoken is the newest one not newer than vCenter's own API version.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from vvolguard.live.serialize import to_plain

PROVIDERS_FILE = "vcenter/get-vasaprovider.json"
CERT_DIR = "certificates"
HANDSHAKE_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What collect and validate need from one provider (and the row written for it)."""

    name: str
    url: str
    status: str
    status_fault: str | None
    certificate_expiry: datetime | None
    certificate_status: str | None
    arrays: tuple[tuple[str, bool, int | None], ...]  # (array id, active, priority)
    data: dict[str, Any]  # the Get-VasaProvider row


def sms_version(api_version: str) -> str:
    """The newest SMS version whose number is not above vCenter's ``about.apiVersion``."""
    from pyVmomi import VmomiSupport

    def numbers(text: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", text)[:4])

    wanted = numbers(api_version)
    for version in VmomiSupport.GetServiceVersions("sms"):  # newest first
        ns = VmomiSupport.GetVersionNamespace(version).split("/", 1)[-1]
        if numbers(ns) <= wanted:
            return str(version)
    return "sms.version.version14"


def sms_service(si: Any, ssl_context: ssl.SSLContext, timeout: float = 60.0) -> Any:
    """The SMS ServiceInstance on the same vCenter session as ``si``."""
    from pyVmomi import SoapStubAdapter, sms

    stub = si._stub
    cookie = stub.cookie or ""
    found = re.search(r'vmware_soap_session="?([^";]+)', cookie)
    if not found:
        raise ConnectionError("the vCenter session has no session cookie to reach SMS with")
    host, port = _host_port(stub)
    # SMS accepts the vCenter session as the vmware_soap_session cookie (set on the stub below)
    # and, like PBM, as a vcSessionCookie header; both are sent.
    sms_stub = SoapStubAdapter(
        host=host,
        port=port,
        path="/sms/sdk",
        version=sms_version(si.content.about.apiVersion),
        sslContext=ssl_context,
        requestContext={"vcSessionCookie": found.group(1)},
        httpConnectionTimeout=timeout,
    )
    sms_stub.cookie = cookie
    return sms.ServiceInstance("ServiceInstance", sms_stub)


def _host_port(stub: Any) -> tuple[str, int]:
    host_port = stub.host  # "host:port" (IPv6 in brackets)
    host, _, port = host_port.rpartition(":")
    if not host:
        return host_port, 443
    return host.strip("[]"), int(port)


def query_providers(sms_si: Any, server: str) -> list[ProviderInfo]:
    """Every registered provider's info, refreshed by SMS (what ``-Refresh`` asks for)."""
    manager = sms_si.QueryStorageManager()
    out = []
    for index, provider in enumerate(manager.QueryProvider()):
        info = provider.QueryProviderInfo()
        out.append(provider_row(info, provider._moId, index, server))
    return out


def _when(value: Any) -> datetime | None:
    """SMS gives ``certificateExpiryDate`` and ``lastSyncTime`` as text (xsd:string, ISO 8601 as
    vCenter writes them); a value that does not parse is kept in the export and not judged."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def provider_row(info: Any, moid: str, index: int, server: str) -> ProviderInfo:
    """``Get-VasaProvider | ConvertTo-Json`` of one ``sms.provider.VasaProviderInfo``."""
    fault = info.statusFault  # a vmodl.MethodFault (its msg says why), not a LocalizedMethodFault
    fault_text = None
    if fault is not None:
        name = type(fault).__name__.rsplit(".", 1)[-1]
        message = getattr(fault, "msg", None) or getattr(fault, "localizedMessage", None)
        fault_text = f"{name}: {message}" if message and not message.startswith(name) else (message or name)
    arrays = tuple(
        (a.arrayId, bool(a.active), getattr(a, "priority", None)) for a in (info.relatedStorageArray or [])
    )
    status = str(info.status or "unknown")
    data = {
        "Name": info.name,
        "Id": f"VasaProvider-{moid}",
        "Url": info.url,
        "Status": status,
        "LastSyncTime": info.lastSyncTime or None,
        "ProviderId": info.providerId or info.uid,
        "Namespace": info.namespace,
        "ProviderType": info.type or "VasaProvider",
        "VasaVersion": info.vasaVersion,
        "Version": info.version,
        "Description": info.description,
        "Uid": f"/VIServer={server}:443/VasaProvider=VasaProvider-{moid}/",
        "ExtensionData": {
            "CertificateExpiryDate": info.certificateExpiryDate or None,
            "CertificateStatus": info.certificateStatus,
            "StatusFault": None if fault_text is None else {"LocalizedMessage": fault_text},
            "RelatedStorageArray": [to_plain(a) for a in info.relatedStorageArray or []],
            "Priority": info.priority,
            "MaxBatchSize": info.maxBatchSize,
        },
    }
    return ProviderInfo(
        name=info.name,
        url=info.url,
        status=status,
        status_fault=fault_text,
        certificate_expiry=_when(info.certificateExpiryDate),
        certificate_status=info.certificateStatus,
        arrays=arrays,
        data=data,
    )


def providers_json(rows: list[ProviderInfo]) -> str:
    return json.dumps([r.data for r in rows], indent=2) + "\n"


def fetch_certificate(url: str, timeout: float = HANDSHAKE_TIMEOUT_S, address: str | None = None) -> str:
    """The PEM certificate the provider at ``url`` serves, from a TLS handshake.

    Verification is off for this one call on purpose: the certificate is the evidence (an
    expired or untrusted one is exactly what is looked for), nothing is sent over the link."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"no host in provider URL {url!r}")
    port = parts.port or 443
    connect_host, connect_port = parts.hostname, port
    if address:  # a port forward or NAT address of this provider (--provider-address)
        connect_host, _, forwarded = address.rpartition(":")
        connect_port = int(forwarded)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((connect_host, connect_port), timeout=timeout) as sock,
        ctx.wrap_socket(sock, server_hostname=parts.hostname) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ConnectionError(f"{connect_host}:{connect_port} sent no certificate")
    return ssl.DER_cert_to_PEM_cert(der)


def certificate_file(provider: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", provider).strip("_") or "provider"
    return f"{CERT_DIR}/{safe}.pem"
