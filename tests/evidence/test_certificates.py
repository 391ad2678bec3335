"""Certificate reader: real X.509 certificates generated with cryptography, PEM and DER."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from vvolguard.evidence.certificates import CertificateReader
from vvolguard.evidence.sniff import sniff
from vvolguard.evidence.source import from_bytes
from vvolguard.records import EvidenceKind

NOW = datetime(2024, 3, 14, 10, 0, tzinfo=UTC)


def name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str | None = None,
    signer: ec.EllipticCurvePrivateKey | None = None,
    not_before: datetime = NOW - timedelta(days=30),
    not_after: datetime = NOW + timedelta(days=365),
    sans: list[x509.GeneralName] | None = None,
    serial: int = 0x1234ABCD,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer or subject))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signer or key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki():
    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    other_key = ec.generate_private_key(ec.SECP256R1())
    ca = make_cert("vvol-ca", ca_key, serial=1)
    leaf = make_cert(
        "vp.example.com",
        leaf_key,
        issuer="vvol-ca",
        signer=ca_key,
        sans=[
            x509.DNSName("vp.example.com"),
            x509.DNSName("vp"),
            x509.IPAddress(ipaddress.ip_address("10.21.88.113")),
        ],
        serial=0xDEADBEEF,
    )
    expired = make_cert(
        "old-vp", other_key, not_before=NOW - timedelta(days=800), not_after=NOW - timedelta(days=70)
    )
    # same subject and issuer name, but signed by someone else: not really self-signed
    forged = make_cert("vvol-ca", leaf_key, issuer="vvol-ca", signer=other_key, serial=2)
    return {"ca": ca, "leaf": leaf, "expired": expired, "forged": forged, "key": leaf_key}


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def read(filename: str, data: bytes):
    ef = from_bytes(filename, data)
    return list(CertificateReader().read(ef)), ef.warnings


def test_leaf_with_sans(pki):
    records, warnings = read("vp.pem", pem(pki["leaf"]).encode())
    (rec,) = records
    assert rec.subject == "CN=vp.example.com,O=Example"
    assert rec.issuer == "CN=vvol-ca,O=Example"
    assert rec.serial == "deadbeef"
    assert rec.dns_names == ("vp.example.com", "vp")
    assert rec.ip_addresses == ("10.21.88.113",)
    assert rec.not_before == NOW - timedelta(days=30) and rec.not_before.tzinfo is not None
    assert rec.not_after == NOW + timedelta(days=365)
    assert rec.sha256 == pki["leaf"].fingerprint(hashes.SHA256()).hex()
    assert rec.self_signed is False
    assert rec.pem == pem(pki["leaf"])
    assert (rec.citation.file, rec.citation.line, rec.citation.text) == (
        "vp.pem",
        1,
        "-----BEGIN CERTIFICATE-----",
    )
    assert warnings == []


def test_chain_with_openssl_text_around_it(pki):
    text = (
        "Certificate:\n    Data:\n        Version: 3 (0x2)\n        Serial Number: 3735928559 (0xdeadbeef)\n"
        + pem(pki["leaf"])
        + "\nsubject=CN=vvol-ca\nissuer=CN=vvol-ca\n"
        + pem(pki["ca"])
        + "---\n"
        + pem(pki["expired"])
    )
    records, warnings = read("castore.pem", text.encode())
    assert [r.subject for r in records] == [
        "CN=vp.example.com,O=Example",
        "CN=vvol-ca,O=Example",
        "CN=old-vp,O=Example",
    ]
    assert [r.self_signed for r in records] == [False, True, True]
    lines = text.splitlines()
    assert all(lines[r.citation.line - 1] == "-----BEGIN CERTIFICATE-----" for r in records)
    assert records[0].citation.line == 5
    assert records[2].not_after < NOW  # the expired one is there with its real dates
    assert warnings == []


def test_names_match_but_signature_does_not(pki):
    (rec,), _ = read("forged.crt", pem(pki["forged"]).encode())
    assert rec.subject == rec.issuer and rec.self_signed is False


def test_der_single_and_concatenated(pki):
    der = pki["leaf"].public_bytes(serialization.Encoding.DER)
    (rec,), warnings = read("vp.der", der)
    assert rec.subject == "CN=vp.example.com,O=Example" and rec.citation.line is None
    assert warnings == []
    both = der + pki["ca"].public_bytes(serialization.Encoding.DER)
    records, _ = read("both.cer", both)
    assert [r.subject for r in records] == ["CN=vp.example.com,O=Example", "CN=vvol-ca,O=Example"]
    records, warnings = read("cut.der", both[:-10])
    assert [r.subject for r in records] == ["CN=vp.example.com,O=Example"] and len(warnings) == 1


def test_pkcs7_bundle(pki):
    p7 = pkcs7.serialize_certificates([pki["leaf"], pki["ca"]], serialization.Encoding.PEM)
    records, _ = read("bundle.p7b", p7)
    assert sorted(r.subject for r in records) == ["CN=vp.example.com,O=Example", "CN=vvol-ca,O=Example"]


def test_private_key_is_ignored_and_never_copied(pki):
    key_pem = (
        pki["key"]
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    text = key_pem + pem(pki["leaf"])
    records, warnings = read("rui.pem", text.encode())
    assert len(records) == 1
    key_body = "".join(key_pem.splitlines()[1:-1])
    everything = repr(records) + repr(warnings) + "".join(r.pem for r in records)
    for chunk in (key_body[i : i + 16] for i in range(0, len(key_body) - 16, 16)):
        assert chunk not in everything
    assert [w.line for w in warnings] == [1]
    assert "private key" in warnings[0].message


def test_corrupt_blocks_warn_with_begin_line_and_keep_others(pki):
    good = pem(pki["ca"])
    lines = pem(pki["leaf"]).splitlines()
    bad_base64 = "\n".join([lines[0], lines[1][:10] + "!!!!" + lines[1][14:], *lines[2:]]) + "\n"
    bad_der = "-----BEGIN CERTIFICATE-----\nTUlJQmFkRGVy\n-----END CERTIFICATE-----\n"
    no_end = "-----BEGIN CERTIFICATE-----\nMIIB\n"
    text = good + bad_base64 + bad_der + good + no_end
    records, warnings = read("mixed.pem", text.encode())
    assert [r.subject for r in records] == ["CN=vvol-ca,O=Example"] * 2
    good_len = len(good.splitlines())
    begin_bad64 = good_len + 1
    begin_bad_der = begin_bad64 + len(lines)
    begin_no_end = begin_bad_der + 3 + good_len
    assert [w.line for w in warnings] == [begin_bad64, begin_bad_der, begin_no_end]


def test_empty_junk_and_huge_line():
    for data in (
        b"",
        b"\x00" * 100,
        b"\x30\x82\xff\xff" + b"\x00" * 100,
        b"-----BEGIN CERTIFICATE-----\n" + b"A" * 10_000_000,
    ):
        records, warnings = read("x.pem", data)
        assert records == [] and warnings


@pytest.mark.parametrize("filename", ["vp.pem", "rui.crt", "noext", "vp.der"])
def test_sniffing(pki, filename):
    pem_data = pem(pki["leaf"]).encode()
    data = (
        pki["leaf"].public_bytes(serialization.Encoding.DER)
        if filename.endswith(("der", "noext"))
        else pem_data
    )
    reader, confidence = sniff(from_bytes(filename, data))
    assert reader is not None and reader.kind == EvidenceKind.CERTIFICATE and confidence >= 70
