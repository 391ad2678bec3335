"""Shared by the watch tests: a running WatchService on loopback, a scrape, a real TLS cert."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NFC_8 = (
    "2026-03-14T10:10:{s:02d}.000Z Wa(164) VVold[2264325]: [Originator@6876 sub=Default OpId=op-{i}] "
    "VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.21.88.113:8084/vasa) "
    "[#outstanding 5/5] - waiting"
)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return resp.read().decode()


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample (labels matched as given, any others allowed), None if absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_for(cond: Callable[[], bool], timeout: float = 20.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def make_cert(
    tmp: Path,
    name: str = "localhost",
    *,
    days: float = 30,
    issued_days_ago: float = 5 / 1440,
    sans: list[x509.GeneralName] | None = None,
) -> tuple[Path, Path]:
    """A real self-signed certificate and key (for 127.0.0.1/localhost unless ``sans`` say
    otherwise), valid until ``days`` from now, written as ``<tmp>/<name>.crt`` and ``.key``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    if sans is None:
        sans = [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=issued_days_ago))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


_SAMPLE = re.compile(r"^(\w+)(\{[^}]*\})? (\S+)$")
