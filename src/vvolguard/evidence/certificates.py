"""Reader for X.509 certificates: VASA provider certificates, host ``rui.crt``, ``castore.pem``.

Why: an expired or untrusted VP certificate takes providers offline and looks, from vCenter, like
the same "A system error occurred." as a saturated provider (runbook; docs/evidence-formats.md §1.12). The
analysis needs each certificate's validity window, names and issuer to rule that cause in or out.

Accepted: PEM files with one or many certificates (chains, trust stores), also with text around
them (``openssl x509 -text`` output, ``openssl s_client -showcerts`` transcripts), PKCS#7 PEM
bundles, and DER files (one certificate, or several concatenated).

Private keys are never copied: their blocks are skipped line by line without being kept, and the
only trace is a warning that one was present.
"""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from vvolguard.evidence.source import EvidenceFile
from vvolguard.evidence.warner import GuardedReader, Warn
from vvolguard.records import CertificateRecord, Citation, EvidenceKind, Record

# cryptography (~30 ms to import) is imported where a certificate is parsed, not when files are sniffed.
if TYPE_CHECKING:
    from cryptography import x509

#: A PEM block longer than this is not a certificate (the largest real chains stay far below).
MAX_PEM_BLOCK = 512 * 1024
#: DER files are read whole up to this size.
MAX_DER_FILE = 4 * 1024 * 1024

_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_END = re.compile(r"-----END ([A-Z0-9 ]+)-----")
_BEGIN_AT_LINE_START = re.compile(rb"(?m)^[ \t]*-----BEGIN ([A-Z0-9 ]+)-----")
_CERT_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"})
_PKCS7_LABELS = frozenset({"PKCS7", "CERTIFICATE CHAIN"})
_CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der", ".cert", ".ca-bundle", ".p7b")


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence cryptography's deprecation notices about odd certificates (negative serials...).

    They would go to the user's terminal as Python warnings; the record itself shows the oddity.
    """
    from cryptography.utils import CryptographyDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        yield


def certificate_record(cert: x509.Certificate, citation: Citation) -> CertificateRecord:
    """A record from a parsed certificate; raises ``ValueError`` for a malformed one.

    ``self_signed`` means the issuer is the subject and the certificate's own key verifies its
    signature; when the algorithm cannot be checked here, matching names are taken as enough.
    """
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding

    subject = cert.subject.rfc4514_string()
    issuer = cert.issuer.rfc4514_string()
    dns_names: list[str] = []
    ip_addresses: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        ip_addresses = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    self_signed = False
    if cert.issuer == cert.subject:
        try:
            cert.verify_directly_issued_by(cert)
            self_signed = True
        except InvalidSignature:
            self_signed = False
        except Exception:  # unsupported or odd algorithm: the matching names must do
            self_signed = True
    serial = cert.serial_number
    return CertificateRecord(
        subject=subject,
        issuer=issuer,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=format(serial, "x") if serial >= 0 else "-" + format(-serial, "x"),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        dns_names=tuple(dns_names),
        ip_addresses=tuple(ip_addresses),
        self_signed=self_signed,
        pem=cert.public_bytes(Encoding.PEM).decode("ascii"),
        citation=citation,
    )


def _der_length(data: bytes, pos: int = 0) -> int | None:
    """Total length of the DER SEQUENCE at ``pos`` (header included), or ``None``."""
    if pos + 2 > len(data) or data[pos] != 0x30:
        return None
    first = data[pos + 1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or pos + 2 + count > len(data):
        return None
    return 2 + count + int.from_bytes(data[pos + 2 : pos + 2 + count], "big")


def _load_der(der: bytes) -> x509.Certificate:
    """One certificate from DER, ignoring bytes after it (OpenSSL TRUSTED CERTIFICATE aux data)."""
    from cryptography import x509

    length = _der_length(der)
    if length is not None and length < len(der):
        der = der[:length]
    return x509.load_der_x509_certificate(der)


def _safe_record(
    cert: x509.Certificate, citation: Citation, warn: Warn, line: int | None
) -> CertificateRecord | None:
    try:
        with _quiet():
            return certificate_record(cert, citation)
    except Exception as exc:  # cryptography raises several unrelated types for malformed fields
        warn(f"certificate could not be decoded ({exc}); skipped", line)
        return None


class CertificateReader(GuardedReader):
    """PEM (one or many, with surrounding text) and DER certificate files."""

    kind = EvidenceKind.CERTIFICATE

    def sniff(self, name: str, head: bytes) -> int:
        suffix = PurePosixPath(name.lower()).suffix
        named = suffix in _CERT_SUFFIXES or name.lower().endswith(".ca-bundle")
        labels = {m.group(1).decode("ascii", "replace") for m in _BEGIN_AT_LINE_START.finditer(head)}
        if labels & (_CERT_LABELS | _PKCS7_LABELS):
            return 95 if named else 90
        if any("PRIVATE KEY" in label for label in labels):
            return 60  # a key alone: claimed so the user learns it was seen and ignored
        if _plausible_der(head):
            return 88 if named else 75
        return 40 if named and not head.strip() else 0

    def _read(self, ef: EvidenceFile, warn: Warn) -> Iterator[Record]:
        head = ef.head(4096)
        if not head.strip():
            warn("empty certificate file")
            return
        if b"-----BEGIN" not in ef.head() and head[:1] == b"\x30":
            yield from self._der(ef, warn)
            return
        yield from self._pem(ef, warn)

    def _der(self, ef: EvidenceFile, warn: Warn) -> Iterator[Record]:
        from cryptography import x509

        data = bytearray()
        for block in ef.blocks():
            data += block
            if len(data) > MAX_DER_FILE:
                warn(f"binary file over {MAX_DER_FILE // (1024 * 1024)} MiB is not a certificate; skipped")
                return
        pos, index = 0, 0
        raw = bytes(data)
        while pos < len(raw):
            length = _der_length(raw, pos)
            if length is None or pos + length > len(raw):
                warn(f"not DER certificate data at byte {pos} (damaged or cut off); rest of the file skipped")
                return
            index += 1
            try:
                with _quiet():
                    cert = x509.load_der_x509_certificate(raw[pos : pos + length])
            except Exception as exc:  # ValueError, InvalidVersion, ... for malformed DER
                warn(f"DER object {index} at byte {pos} is not a valid certificate ({exc}); skipped")
            else:
                citation = Citation(file=ef.display, line=None, text=f"DER certificate {index} at byte {pos}")
                record = _safe_record(cert, citation, warn, None)
                if record is not None:
                    yield record
            pos += length

    def _pem(self, ef: EvidenceFile, warn: Warn) -> Iterator[Record]:
        label: str | None = None
        begin_line = 0
        begin_text = ""
        body: list[str] = []
        size = 0
        found = False
        for number, text in ef.lines():
            if label is None:
                match = _BEGIN.search(text) if "-----BEGIN" in text else None
                if match is None:
                    continue
                label, begin_line, begin_text, body, size = match.group(1), number, text.strip(), [], 0
                if "PRIVATE KEY" in label:
                    warn("a private key is in this file; it was ignored and not copied anywhere", number)
                continue
            end = _END.search(text) if "-----END" in text else None
            if end is None:
                if "-----BEGIN" in text:
                    warn(f"PEM block {label!r} has no END line; skipped", begin_line)
                    label = None
                    match = _BEGIN.search(text)
                    if match:
                        label, begin_line, begin_text, body, size = (
                            match.group(1),
                            number,
                            text.strip(),
                            [],
                            0,
                        )
                        if "PRIVATE KEY" in label:
                            warn(
                                "a private key is in this file; it was ignored and not copied anywhere",
                                number,
                            )
                    continue
                if "PRIVATE KEY" in label:
                    continue  # never keep key material, not even in memory
                size += len(text)
                if size > MAX_PEM_BLOCK:
                    warn(f"PEM block {label!r} is implausibly large; skipped", begin_line)
                    label = None
                    continue
                body.append(text)
                continue
            current, label = label, None
            if "PRIVATE KEY" in current:
                continue
            citation = Citation(file=ef.display, line=begin_line, text=begin_text)
            for record in self._block(current, body, citation, warn, begin_line):
                found = True
                yield record
            body = []
        if label is not None:
            warn(f"PEM block {label!r} is cut off (no END line); skipped", begin_line)
        if not found:
            warn("no readable certificate found in this file")

    def _block(
        self, label: str, body: list[str], citation: Citation, warn: Warn, line: int
    ) -> Iterator[CertificateRecord]:
        if label not in _CERT_LABELS and label not in _PKCS7_LABELS:
            warn(f"PEM block {label!r} is not a certificate; ignored", line)
            return
        b64 = "".join(part.strip() for part in body if ":" not in part)  # skip RFC 1421 headers
        try:
            der = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            warn(f"PEM block {label!r} is corrupt (bad base64); skipped", line)
            return
        if label in _PKCS7_LABELS:
            from cryptography.hazmat.primitives.serialization import pkcs7

            try:
                with _quiet():
                    certs = pkcs7.load_der_pkcs7_certificates(der)
            except Exception as exc:  # ValueError, UnsupportedAlgorithm, ... for malformed PKCS#7
                warn(f"PKCS#7 block is corrupt ({exc}); skipped", line)
                return
        else:
            try:
                with _quiet():
                    certs = [_load_der(der)]
            except Exception as exc:  # ValueError, InvalidVersion, ... for malformed DER
                warn(f"PEM certificate is corrupt ({exc}); skipped", line)
                return
        for cert in certs:
            record = _safe_record(cert, citation, warn, line)
            if record is not None:
                yield record


def _plausible_der(head: bytes) -> bool:
    """A DER certificate starts with two nested SEQUENCEs; check that and try to parse it."""
    if len(head) < 64 or head[0] != 0x30 or head[1] not in (0x82, 0x83):
        return False
    inner = 2 + (head[1] & 0x7F)
    if inner >= len(head) or head[inner] != 0x30:
        return False
    length = _der_length(head)
    if length is None or length > len(head):
        return True  # too long to try within the head; the structure alone is telling
    from cryptography import x509

    try:
        with _quiet():
            x509.load_der_x509_certificate(head[:length])
    except Exception:  # any parse failure means "not a certificate"
        return False
    return True


READERS = [CertificateReader()]
