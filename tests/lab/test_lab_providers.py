"""The VASA provider as SMS reports it and as a TLS handshake shows it, per scenario."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from lab_fixture import connect, disconnect, sms_service
from pyVmomi import sms

from vvolguard.lab import LabInfo


def provider_info(lab: LabInfo) -> tuple[Any, list[Any]]:
    si = connect(lab)
    try:
        manager = sms_service(lab, si).QueryStorageManager()
        providers = manager.QueryProvider()
        assert len(providers) == 1
        return providers[0].QueryProviderInfo(), manager.QueryArray()
    finally:
        disconnect(si)


def handshake_certificate(lab: LabInfo) -> x509.Certificate:
    """The certificate the provider URL presents (verification off: it may be expired/untrusted)."""
    [(_url, address)] = lab.providers.items()
    host, port = address.rsplit(":", 1)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=10) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der
    return x509.load_der_x509_certificate(der)


@pytest.mark.parametrize(
    ("scenario", "variant", "status", "cert_status", "fault"),
    [
        ("saturation", None, "online", "valid", None),
        ("registration", None, "offline", "valid", "CertificateNotTrusted"),
        ("registration", "offline", "offline", "valid", "ProviderUnavailable"),
        ("certificate", None, "offline", "expired", "CertificateNotTrusted"),
        ("certificate", "near-expiry", "online", "expirySoftLimitReached", None),
    ],
)
def test_sms_reports_the_scenarios_provider(
    lab_factory: Any, scenario: str, variant: str | None, status: str, cert_status: str, fault: str | None
) -> None:
    lab = lab_factory(scenario, variant=variant)
    info, arrays = provider_info(lab)
    assert isinstance(info, sms.provider.VasaProviderInfo)
    assert (info.name, info.status, info.certificateStatus) == ("pure-ct0", status, cert_status)
    assert info.url == "https://10.21.88.113:8084/vasa" and info.url in lab.providers
    if fault is None:
        assert info.statusFault is None
    else:
        assert fault in info.statusFault.msg
    related = info.relatedStorageArray
    assert related and related[0].active and related[0].arrayId == arrays[0].uuid
    pem_cert = x509.load_pem_x509_certificate(info.certificate.encode())
    if variant == "offline":  # the provider service is down: nothing answers its URL
        with pytest.raises(ConnectionRefusedError):
            handshake_certificate(lab)
    else:
        assert handshake_certificate(lab) == pem_cert  # SMS and the provider itself agree
    expiry = datetime.fromisoformat(info.certificateExpiryDate.replace("Z", "+00:00"))
    assert expiry == pem_cert.not_valid_after_utc
    assert (expiry < datetime.now(UTC)) == (cert_status == "expired")
    if variant == "near-expiry":
        assert 0 < (expiry - datetime.now(UTC)).days <= 5
