"""Real X.509 certificates for VASA providers, byte-identical for a given seed.

Why EC P-256: the key can be derived from the seed (``ec.derive_private_key``) and signed with
RFC 6979 deterministic ECDSA, so the same seed gives the same PEM bytes, which the simulator's
determinism promise needs. RSA key generation cannot be seeded through ``cryptography``.

The variants are the certificate situations of the runbook (Stage 4 and KB 439686/372508):
``valid``, ``near-expiry`` (within days), ``expired``, and ``wrong-hostname`` (the certificate
names another host than the registered URL: the trust/hostname-verification failure of
KB 372508). A certificate is issued by a small deterministic CA (a stand-in for VMCA or the
array's own CA), or self-signed when ``self_signed=True``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: P-256 group order; derived scalars must be in [1, n-1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _key(seed: int, label: str) -> ec.EllipticCurvePrivateKey:
    digest = hashlib.sha256(f"vvolguard-sim:{seed}:{label}".encode()).digest()
    scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _serial(seed: int, label: str) -> int:
    return int.from_bytes(hashlib.sha256(f"serial:{seed}:{label}".encode()).digest()[:16], "big") >> 1


@dataclass(frozen=True, slots=True)
class CertSpec:
    """What to issue. ``dns_names``/``ips`` go in the SAN; ``common_name`` in the subject."""

    common_name: str
    not_before: datetime
    not_after: datetime
    dns_names: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    organization: str = "Pure Storage"
    self_signed: bool = False


def issue_certificate(spec: CertSpec, seed: int) -> bytes:
    """PEM bytes of a leaf certificate (plus nothing else), deterministic for ``seed``."""
    leaf_key = _key(seed, "leaf:" + spec.common_name)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, spec.organization),
            x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name),
        ]
    )
    if spec.self_signed:
        issuer_name, signing_key = subject, leaf_key
    else:
        issuer_name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "VMware"),
                x509.NameAttribute(NameOID.COMMON_NAME, "CA"),
            ]
        )
        signing_key = _key(seed, "ca")
    san: list[x509.GeneralName] = [x509.DNSName(name) for name in spec.dns_names]
    san += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.ips]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(leaf_key.public_key())
        .serial_number(_serial(seed, spec.common_name))
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = builder.sign(signing_key, hashes.SHA256(), ecdsa_deterministic=True)
    return cert.public_bytes(serialization.Encoding.PEM)


def provider_certificate(
    variant: str,
    host: str,
    ip: str,
    incident: datetime,
    seed: int,
    days: int = 5,
    not_after: datetime | None = None,
) -> bytes:
    """A VASA provider certificate in one of the runbook's situations.

    ``variant``: ``valid`` (issued 6 months before the incident, 2-year validity like VMCA),
    ``near-expiry`` (expires ``days`` after the incident), ``expired`` (expired ``days`` before
    it), ``wrong-hostname`` (valid dates but issued to another host name; self-signed, as after a
    provider certificate change that vCenter does not trust yet). ``not_after`` overrides the
    expiry of the ``near-expiry``/``expired`` variants (e.g. the minute the incident began).
    """
    if variant == "valid":
        spec = CertSpec(host, incident - timedelta(days=183), incident + timedelta(days=547), (host,), (ip,))
    elif variant == "near-expiry":
        spec = CertSpec(
            host, incident - timedelta(days=730 - days), incident + timedelta(days=days), (host,), (ip,)
        )
    elif variant == "expired":
        spec = CertSpec(
            host, incident - timedelta(days=730 + days), incident - timedelta(days=days), (host,), (ip,)
        )
    elif variant == "wrong-hostname":
        other = "localhost.localdomain"
        spec = CertSpec(
            other,
            incident - timedelta(days=1),
            incident + timedelta(days=3650),
            (other,),
            (),
            self_signed=True,
        )
    else:
        raise ValueError(f"unknown certificate variant {variant!r}")
    if not_after is not None and variant in ("near-expiry", "expired"):
        spec = replace(spec, not_after=not_after)
    return issue_certificate(spec, seed)


def provider_private_key(variant: str, host: str, seed: int) -> ec.EllipticCurvePrivateKey:
    """The private key of :func:`provider_certificate`'s certificate for the same arguments, so a
    simulated provider (``vvolguard lab``) can present that certificate in a real TLS handshake."""
    common_name = "localhost.localdomain" if variant == "wrong-hostname" else host
    return _key(seed, "leaf:" + common_name)
