"""Records built in code for analysis tests: vvold lines as VasaFrame rows, esxcli/PowerCLI
records, migration tasks and real X.509 certificates (made with ``cryptography``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vvolguard.records import (
    VASA_SCHEMA,
    ArrayBinding,
    CertificateRecord,
    Citation,
    EvidenceKind,
    EvidenceSpan,
    HostEventKind,
    HostLogEvent,
    HostOperation,
    MigrationTask,
    ProtocolEndpointRecord,
    ProviderEvent,
    ProviderEventKind,
    ProviderRecord,
    TaskState,
    VasaFrame,
)

T0 = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
ARRAY = "com.purestorage:2dcf29ad-6aca-4913-b62e-a15875c6635f"
CONTAINER = "b487b73a-6128-3ad2-873b-8ddb1ba45d4f"
VP_URL = "https://vp01.corp.example:8084/vasa"


@dataclass
class Vvold:
    """A scripted vvold.log: each call appends a parsed line (one VASA_SCHEMA row)."""

    host: str | None = "esx-01"
    vp: str = "pure-ct0"
    ceiling: int = 5
    file: str = "esx-01.tgz!var/run/log/vvold.log"
    pid: int = 2100874
    rows: list[dict[str, Any]] = field(default_factory=list)
    _seq: int = 90000

    def line(self, sec: float, kind: str, text: str | None = None, **values: Any) -> dict[str, Any]:
        row = dict.fromkeys(VASA_SCHEMA)
        row.update(
            file=self.file,
            line=len(self.rows) + 1,
            ts=T0 + timedelta(seconds=sec),
            host=self.host,
            pid=self.pid,
            level="info",
            kind=kind,
            vp=self.vp,
            text=text or f"{kind} line {len(self.rows) + 1}",
        )
        row.update(values)
        self.rows.append(row)
        return row

    def op(
        self,
        sec: float,
        op: str,
        elapsed_ms: int,
        outstanding: int = 1,
        fault: str | None = None,
        final_elapsed: bool = True,
    ) -> int:
        """Issuing at ``sec`` and FINAL after ``elapsed_ms``; returns the opseq."""
        self._seq += 1
        seq = self._seq
        self.line(
            sec,
            "issue",
            op=op,
            opseq=seq,
            outstanding=outstanding,
            outstanding_max=self.ceiling,
            text=f"VasaOp::{op}Int [#{seq}]: ===> Issuing '{op}' to VP {self.vp} "
            f"(#outstanding {outstanding}/{self.ceiling}) [session state: Connected]",
        )
        end = sec + elapsed_ms / 1000
        if fault is None:
            self.line(
                end,
                "success",
                op=op,
                opseq=seq,
                elapsed_ms=elapsed_ms,
                outstanding=max(0, outstanding - 1),
                container=CONTAINER,
                text=f"VasaOp::{op}Int [#{seq}]: ===> FINAL SUCCESS {op} VP ({self.vp}) Container "
                f"({CONTAINER}) timeElapsed={elapsed_ms} msecs (#outstanding {max(0, outstanding - 1)})",
            )
        else:
            self.line(
                end,
                "failure",
                op=op,
                opseq=seq,
                elapsed_ms=elapsed_ms if final_elapsed else None,
                fault=fault,
                outstanding=max(0, outstanding - 1),
                level="error",
                text=f"VasaOp::ThrowFromSessionError [#{seq}]: ===> FINAL FAILURE {op}, error "
                f"({fault} / detail) VP ({self.vp})",
            )
        return seq

    def no_free_conn(self, sec: float) -> None:
        self.line(
            sec,
            "no-free-conn",
            outstanding=self.ceiling,
            outstanding_max=self.ceiling,
            level="warning",
            text=f"VasaSession::GetFreeConn: No free connections to VP {self.vp} "
            f"[#outstanding {self.ceiling}/{self.ceiling}] - waiting",
        )

    def busy(self, sec: float) -> None:
        self.line(
            sec,
            "busy",
            fault="PROVIDER_BUSY",
            level="warning",
            text=f"bindVirtualVolume to VP {self.vp} returned PROVIDER_BUSY, will retry",
        )

    def ordered(self) -> list[dict[str, Any]]:
        """The rows in log order (by time, as vvold writes them), numbered from 1."""
        rows = sorted(self.rows, key=lambda r: r["ts"])
        return [{**r, "line": i} for i, r in enumerate(rows, 1)]

    def frame(self, shape: str = "esxi7") -> VasaFrame:
        return VasaFrame(pl.DataFrame(self.ordered(), schema=VASA_SCHEMA), shape)

    def quiet_traffic(self, start: float, seconds: float, every: float = 10.0) -> None:
        """Healthy background: getEvents polling and fast creates."""
        s = start
        while s < start + seconds:
            self.op(s, "getEvents", 40, outstanding=1)
            self.op(s + 1, "createVirtualVolume", 300, outstanding=1)
            s += every


def cite(name: str, line: int, text: str) -> Citation:
    return Citation(name, line, text)


def provider(
    status: str = "online",
    observer: str | None = "esx-01",
    name: str = "pure-ct0",
    url: str = VP_URL,
    expiry: datetime | None = None,
) -> ProviderRecord:
    return ProviderRecord(
        name=name,
        url=url,
        status=status,
        observer=observer,
        arrays=(ArrayBinding(ARRAY, True, 200),),
        certificate_expiry=expiry,
        citation=cite(
            f"{observer}.tgz!commands/localcli_storage-vvol-vasaprovider-list.txt", 3, f"   Status: {status}"
        ),
    )


def pe(
    host: str = "esx-01", accessible: bool = True, configured: bool = True, array: str = ARRAY
) -> ProtocolEndpointRecord:
    return ProtocolEndpointRecord(
        pe_id="naa.624a93708a75393becad4e43000113e8",
        host=host,
        array_id=array,
        pe_type="SCSI",
        accessible=accessible,
        configured=configured,
        storage_containers=("vvol:b487b73a61283ad2-873b8ddb1ba45d4f",),
        citation=cite(
            f"{host}.tgz!commands/localcli_storage-vvol-protocolendpoint-list.txt",
            5,
            f"   Accessible: {str(accessible).lower()}",
        ),
    )


def task(
    i: int,
    state: TaskState,
    start_s: float,
    end_s: float | None,
    source: str = "esx-01.corp.example",
    dest: str = "esx-02.corp.example",
    error: str | None = None,
) -> MigrationTask:
    return MigrationTask(
        task_id=f"task-{1000 + i}",
        vm=f"vm-{i:02d}",
        source_host=source,
        dest_host=dest,
        state=state,
        start=T0 + timedelta(seconds=start_s),
        end=None if end_s is None else T0 + timedelta(seconds=end_s),
        error=error or ("A system error occurred." if state == TaskState.ERROR else None),
        description_id="Drm.ExecuteVMotionLRO",
        citation=cite("tasks.json", 10 + i, f'"Key": "task-{1000 + i}"'),
    )


def wave(
    n: int,
    failed: set[int],
    start: float = 0.0,
    spacing: float = 2.0,
    duration: float = 90.0,
    source: str = "esx-01.corp.example",
) -> list[MigrationTask]:
    """``n`` migrations started ``spacing`` s apart from one host; indexes in ``failed`` fail."""
    return [
        task(
            i,
            TaskState.ERROR if i in failed else TaskState.SUCCESS,
            start + i * spacing,
            start + i * spacing + duration,
            source=source,
        )
        for i in range(n)
    ]


def host_event(
    kind: HostEventKind, sec: float, host: str = "esx-01", source: str = "vmkernel", message: str = "event"
) -> HostLogEvent:
    return HostLogEvent(
        ts=T0 + timedelta(seconds=sec),
        host=host,
        source=source,
        kind=kind,
        message=message,
        citation=cite(f"{host}.tgz!var/run/log/{source}.log", 42, message),
    )


def certificate(
    not_after: datetime, dns: tuple[str, ...] = ("vp01.corp.example",), cn: str = "vp01.corp.example"
) -> CertificateRecord:
    """A real self-signed X.509 certificate, described as a certificate reader would."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    not_before = not_after - timedelta(days=365)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    sans: list[x509.GeneralName] = []
    ips: list[str] = []
    for n in dns:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            ips.append(n)
        except ValueError:
            sans.append(x509.DNSName(n))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    der = cert.public_bytes(serialization.Encoding.DER)
    return CertificateRecord(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=format(cert.serial_number, "x"),
        sha256=hashlib.sha256(der).hexdigest(),
        dns_names=tuple(n for n in dns if n not in ips),
        ip_addresses=tuple(ips),
        self_signed=True,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        citation=cite("vp01.pem", 1, "-----BEGIN CERTIFICATE-----"),
    )


def days(n: float) -> dt.timedelta:
    return timedelta(days=n)


def span(
    host: str | None, start_s: float, end_s: float, file: str | None = None, kind: Any = None
) -> EvidenceSpan:
    """What a reader says one file covers (seconds from T0)."""
    return EvidenceSpan(
        file=file or f"{host}.tgz!var/run/log/vvold.log",
        host=host,
        kind=kind or EvidenceKind.VVOLD_LOG,
        start=T0 + timedelta(seconds=start_s),
        end=T0 + timedelta(seconds=end_s),
        lines=100,
    )


def maintenance(
    host: str, start_s: float, end_s: float | None, task_id: str = "task-900", as_event: bool = False
) -> HostOperation:
    """An "Enter maintenance mode" task (or event, without an end) on ``host``."""
    return HostOperation(
        operation="enter-maintenance-mode",
        host=host,
        state=TaskState.RUNNING if end_s is None else TaskState.SUCCESS,
        start=T0 + timedelta(seconds=start_s),
        end=None if end_s is None else T0 + timedelta(seconds=end_s),
        task_id=None if as_event else task_id,
        citation=cite("get-task.json", 3, f'"Name": "EnterMaintenanceMode_Task", "Entity": "{host}"'),
    )


def sps_event(kind: ProviderEventKind, sec: float, message: str, provider: str = "pure-ct0") -> ProviderEvent:
    """One line of vCenter's sps.log about a provider."""
    return ProviderEvent(
        ts=T0 + timedelta(seconds=sec),
        kind=kind,
        provider=provider,
        url=VP_URL,
        observer="vcenter",
        message=message,
        citation=cite("vc-support.tgz!var/log/vmware/vmware-sps/sps.log", 77, message),
    )
