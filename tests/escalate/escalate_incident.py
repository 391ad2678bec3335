"""A saturation incident with real-looking identifiers and planted secrets, for the package tests.

Three hosts (both ESXi log shapes) as real ``.tgz`` vm-support bundles written by the simulator's
evidence writers, a vSphere Client tasks CSV, a ``Get-VIEvent`` JSON export and the provider's
PEM certificate. The identifiers are what a redaction must hide (FQDNs and short names, the
provider's IP in URLs, ``vpxuser:CORP\\svc-backup``, a user in an ``Accepted password`` line) and
the secrets what must never leave (a hostd ``session=`` id, a password, a SOAP session cookie).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vvolguard.sim.evidence import certs as sim_certs
from vvolguard.sim.evidence import esxcli as sim_esxcli
from vvolguard.sim.evidence import hostlogs as sim_hostlogs
from vvolguard.sim.evidence import vcenter as sim_vcenter
from vvolguard.sim.evidence import vvold as sim_vvold
from vvolguard.sim.evidence.bundle import write_bundle

T0 = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
DOMAIN = "corp.example.com"
SOURCE, DEST, OTHER = (f"esx-0{n}.{DOMAIN}" for n in (3, 4, 5))
VCENTER = f"vc01.{DOMAIN}"
VP = "pure-ct0"
VP_IP = "10.1.1.10"
VP_URL = f"https://{VP_IP}:8084/vasa/version.xml"
ARRAY = "com.purestorage:2dcf29ad-6aca-4913-b62e-a15875c6635f"
CONTAINER_UUID = "b487b73a-6128-3ad2-873b-8ddb1ba45d4f"
CONTAINER_ID = "vvol:b487b73a61283ad2-873b8ddb1ba45d4f"
PE_ID = "naa.624a93708a75393becad4e43000113e8"
ADMIN_IP = "192.168.127.10"
SERVICE_USER = "svc-backup"
OPERATOR = "jane.doe"
SSH_USER = "jdoe"
NETBIOS = "CORP"

SESSION_ID = "52f0e556-5be4-83d4-8d71-8f9d8a43791c"
PASSWORD = "Sup3rS3cret-4711"
SOAP_COOKIE = "d3b07384d113edec49eaa6238ad5ff00c4f3"

# Planted in a rotated, gzip-compressed hostd generation of the source host (a nested gzip) and
# in its vvold.log: every user, address and secret shape the issues name (#16, #17).
VASA_SESSION = "52a1f7e3-0c4d-4b1e-9a77-3d2c1b0a9f88"
API_SESSION = "52a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d"
VASA_COOKIE = "7f3c9a1e5b2d4c6e8a0b"
CLI_PASSWORD = "Hunter2!x9"
CDATA_PASSWORD = "cd4t4-S3cret"
BASIC = "dXNlcjpCYXNpY1Bhc3M="
BEARER = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJqZG9lIn0.c2lnbmF0dXJlLXBhcnQ"
URL_PASSWORD = "Ur1P4ss-77"
KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
SAML_SUBJECT = "saml-subject-jdoe"
#: User names in every form; none may survive --redact.
SSO_ADMIN = "Administrator"
SSO_DOMAIN = "vsphere.local"
LOCAL_USER = "esxadmin7"
DCUI_USER = "opslocal3"
UPN_USER = "kim.lee"
UPN_DOMAIN = "acme-corp.net"
#: Addresses and names that only these lines carry.
DASHED_IP = "10-77-1-25"
ENCODED_IP = "10%2E77%2E1%2E26"
IPV6 = "fd00:77::25"
OTHER_FQDN = "esx-07.corp.example.net"
PLANTED_USERS = (SSO_ADMIN, SSO_DOMAIN, LOCAL_USER, DCUI_USER, UPN_USER, UPN_DOMAIN)
PLANTED_ADDRESSES = (DASHED_IP, "10.77.1.25", ENCODED_IP, "10.77.1.26", IPV6, OTHER_FQDN, "esx-07")
PLANTED_SECRETS = (
    VASA_SESSION, API_SESSION, VASA_COOKIE, CLI_PASSWORD, CDATA_PASSWORD, BASIC, BEARER, URL_PASSWORD,
    KEY_BODY, SAML_SUBJECT,
)  # fmt: skip

#: Everything that must not survive --redact (host names in full and short form, addresses, users).
IDENTIFIERS = (
    SOURCE, DEST, OTHER, VCENTER, "esx-03", "esx-04", "esx-05", "vc01", DOMAIN,
    VP_IP, ADMIN_IP, SERVICE_USER, OPERATOR, SSH_USER, f"{VP}.{DOMAIN}",
)  # fmt: skip
#: Everything that must never survive, with or without --redact.
SECRETS = (SESSION_ID, "52f0e556", PASSWORD, SOAP_COOKIE, *PLANTED_SECRETS)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


Record = sim_hostlogs.HostdRecord


@dataclass
class Host:
    fqdn: str
    shape: sim_vvold.Shape
    pid: int
    vvold: list[sim_vvold.VvoldRecord] = field(default_factory=list)
    hostd: list[sim_hostlogs.HostdRecord] = field(default_factory=list)
    hostd_rotated: list[sim_hostlogs.HostdRecord] = field(default_factory=list)
    seq: int = 90000

    def say(self, t: float, level: str, message: str) -> None:
        record = sim_vvold.VvoldRecord(ts=at(t), level=level, message=message, opid=f"op-{self.seq}")
        self.vvold.append(record)

    def op(self, t: float, op: str, elapsed_ms: int, outstanding: int = 1, fault: str | None = None) -> None:
        self.seq += 1
        self.say(t, "info", sim_vvold.msg_issue(self.seq, op, VP, outstanding, 5))
        end = t + elapsed_ms / 1000
        if fault:
            msg = sim_vvold.msg_final_failure(
                self.seq, op, fault, "Operation timed out", VP, CONTAINER_UUID, elapsed_ms, outstanding - 1
            )
            self.say(end, "error", msg)
        else:
            after = max(0, outstanding - 1)
            msg = sim_vvold.msg_final_success(self.seq, op, VP, CONTAINER_UUID, elapsed_ms, after)
            self.say(end, "info", msg)

    def polling(self, start: float, end: float) -> None:
        t, n = start, 0
        while t < end:
            self.op(t, "getEvents", 30 + n % 20)
            t += 10
            n += 1

    def files(self, with_pe: bool = True) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        records = sorted(self.vvold, key=lambda r: r.ts)
        for name, data in sim_vvold.write_vvold_log(records, self.shape, self.pid, at(-7200)).items():
            out[f"var/run/log/{name}"] = data
        if self.hostd:
            ordered = sorted(self.hostd, key=lambda r: r.ts)
            text = "".join(sim_hostlogs.format_hostd(self.shape, r, 2101004) for r in ordered)
            out["var/run/log/hostd.log"] = text.encode()
        if self.hostd_rotated:
            ordered = sorted(self.hostd_rotated, key=lambda r: r.ts)
            text = "".join(sim_hostlogs.format_hostd(self.shape, r, 2101004) for r in ordered)
            out["var/run/log/hostd.0.gz"] = gzip.compress(text.encode(), mtime=0)
        providers = [sim_esxcli.VasaProviderRow(VP, VP_URL, "online", (sim_esxcli.ArrayRow(ARRAY),))]
        containers = [sim_esxcli.StorageContainerRow("vVol_DS", CONTAINER_ID, ARRAY)]
        endpoints = [sim_esxcli.ProtocolEndpointRow(PE_ID, ARRAY, (CONTAINER_ID,))]
        out.update(sim_esxcli.host_command_files(self.fqdn, providers, containers, endpoints))
        if not with_pe:
            for path in sim_esxcli.COMMAND_FILES["protocolendpoint"]:
                out.pop(path)
        return out


def tasks() -> list[sim_vcenter.TaskRow]:
    rows = []
    for i in range(8):
        begin = at(2 * i)
        bad = i in (2, 5, 6)
        rows.append(
            sim_vcenter.TaskRow(
                task_id=f"task-{4100 + i}",
                vm=f"app-{i:02d}",
                vm_moref=f"vm-{200 + i}",
                source=SOURCE,
                dest=DEST,
                state="error" if bad else "success",
                queued=begin,
                start=begin,
                end=begin + timedelta(seconds=75),
                error="A system error occurred." if bad else None,
                chain_id=7000 + i,
                initiator=f"VSPHERE.LOCAL\\{SSO_ADMIN}" if i == 5 else f"{NETBIOS}\\{OPERATOR}",
                server=VCENTER,
            )
        )
    return rows


def hosts() -> tuple[Host, Host, Host]:
    src = Host(SOURCE, "esxi7", 2100874)
    src.polling(-600, 600)
    for i in range(8):
        src.op(2 * i + 1, "createVirtualVolume", 28_000 + 2_500 * i, outstanding=5)
    for t in (4, 7, 11, 16, 22, 29, 35):
        src.say(t, "warning", sim_vvold.msg_no_free_conn(VP, VP_URL, 5, 5))
    src.op(40, "createVirtualVolume", 60_000, outstanding=5, fault="TIMEOUT")
    src.say(8, "info", sim_vvold.msg_setcontext_success(VP, VP_URL, VASA_SESSION))
    src.hostd_rotated += planted_hostd()
    src.hostd += [
        sim_hostlogs.task_line(
            at(1), "haTask-ha-host-vim.HostSystem.enterMaintenanceMode-17044002", "created", "opx-1",
            f"vpxuser:{NETBIOS}\\{SERVICE_USER}",
        ),
        sim_hostlogs.HostdRecord(
            at(3), "info", "Vimsvc.HaSessionManager",
            f"Accepted password for user {SSH_USER} from {ADMIN_IP} - session={SESSION_ID}",
            opid="esxui-8c02-9b39",
        ),
        sim_hostlogs.HostdRecord(
            at(5), "warning", "Default",
            f"SOAP request from {VCENTER}: Cookie: vmware_soap_session=\"{SOAP_COOKIE}\"; Path=/",
        ),
        sim_hostlogs.HostdRecord(
            at(6), "error", "Vimsvc.HaSessionManager",
            f"Rejected login from {ADMIN_IP}: user={NETBIOS}\\{SERVICE_USER} password={PASSWORD} (bad token)",
        ),
        sim_hostlogs.vmotion_failed_hostd(
            at(30), "1710410430123", "Source detected that destination failed to resume.", "opx-2"
        ),
    ]  # fmt: skip
    dst = Host(DEST, "esxi8", 2255518)
    dst.polling(-600, 600)
    for i in range(6):
        dst.op(3 * i + 2, "createVirtualVolume", 20_000 + 3_000 * i, outstanding=4)
    other = Host(OTHER, "esxi8", 2300001)
    other.polling(-600, 600)
    return src, dst, other


def planted_hostd() -> list[sim_hostlogs.HostdRecord]:
    """hostd lines (inside the failure window) with every user, address and secret shape."""

    def line(t: float, message: str, user: str | None = None, more: tuple[str, ...] = ()) -> Record:
        return Record(at(t), "info", "Vimsvc.HaSessionManager", message, more, "opx-9", user)

    sso = f"vpxuser:VSPHERE.LOCAL\\{SSO_ADMIN}"
    url = f"GET /ui/?target={ENCODED_IP}&password={URL_PASSWORD}"
    saml = (f"<saml2:NameID>{SAML_SUBJECT}</saml2:NameID>", "</saml2:Assertion>")

    return [
        line(2, "Task Created : haTask-ha-host-vim.HostSystem.rescanVmfs-1", sso),
        line(2.5, f"Session created for {SSO_ADMIN}@{SSO_DOMAIN} and {UPN_USER}@{UPN_DOMAIN}"),
        line(3, f"Event: user {DCUI_USER} logged in", f"dcui:{DCUI_USER}"),
        line(3.5, f"Accepted password for user {LOCAL_USER} from {IPV6}", LOCAL_USER),
        line(4, f"vMotion peer {OTHER_FQDN} via esx-{DASHED_IP} (PTR ip-{DASHED_IP}.in-addr)"),
        line(4.5, f"{url} vmware-api-session-id {API_SESSION}"),
        line(5, f"SOAP header VASASESSIONID={VASA_COOKIE}; Authorization: Basic {BASIC}"),
        line(5.5, f"esxcli --server x --username y --password {CLI_PASSWORD} storage vvol list"),
        line(6, f"<Login><userName>svc</userName><Password><![CDATA[{CDATA_PASSWORD}]]></Password></Login>"),
        line(6.5, f"proxy call with bearer {BEARER}"),
        line(7, "-----BEGIN RSA PRIVATE KEY-----", more=(KEY_BODY, "-----END RSA PRIVATE KEY-----")),
        line(7.5, "<saml2:Assertion ID='a1'>", more=saml),
    ]  # fmt: skip


@dataclass
class Written:
    root: Path
    bundles: list[Path]
    tasks_csv: Path
    events: Path
    pem: Path
    extras: list[Path] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return [*self.bundles, self.tasks_csv, self.events, self.pem, *self.extras]


def write_incident(root: Path, pe_missing_on: str | None = OTHER) -> Written:
    """Write the incident under ``root/evidence``; ``pe_missing_on`` lacks its PE output."""
    evidence = root / "evidence"
    evidence.mkdir(parents=True)
    bundles = []
    for i, host in enumerate(hosts()):
        _, tgz = write_bundle(
            evidence, host.fqdn, at(1800), 3_000_000 + i, host.files(with_pe=host.fqdn != pe_missing_on),
            folder=False, tgz_dir=evidence,
        )  # fmt: skip
        assert tgz is not None
        bundles.append(tgz)
    rows = tasks()
    csv_path = evidence / "vcenter-tasks.csv"
    csv_path.write_text(sim_vcenter.tasks_csv(rows))
    events = evidence / "vcenter-events.json"
    events.write_text(sim_vcenter.get_vievent_json(rows, {SOURCE: "host-10", DEST: "host-11"}))
    pem = evidence / "vasa-provider.pem"
    pem.write_bytes(sim_certs.provider_certificate("valid", f"{VP}.{DOMAIN}", VP_IP, T0, seed=7))
    return Written(evidence, bundles, csv_path, events, pem)


def add_provider_export(written: Written) -> Path:
    path = written.root / "get-vasaprovider.json"
    row = sim_vcenter.VasaProviderExport(
        VP, VP_URL, "online", "pure-ct0-id", at(-60), at(86400 * 300), "valid", version="2.0.1",
        array_id=ARRAY,
    )  # fmt: skip
    path.write_text(sim_vcenter.get_vasaprovider_json([row], server=VCENTER))
    written.extras.append(path)
    return path


def add_vendor_files(written: Written) -> list[Path]:
    metrics = written.root / "vasa-appliance-metrics.csv"
    metrics.write_text("time,cpu_pct,mem_pct,queue_depth\n2026-03-14T10:00:00Z,97,81,64\n")
    perf = written.root / "array-perf-export.csv"
    perf.write_text("time,read_latency_ms,write_latency_ms,iops\n2026-03-14T10:00:00Z,0.4,0.6,120000\n")
    firmware = written.root / "array-firmware.txt"
    firmware.write_text("Name  ID  OS  Version\npure01  2dcf29ad  Purity//FA  6.5.3\n")
    written.extras += [metrics, perf, firmware]
    return [metrics, perf, firmware]


def add_bad_inputs(written: Written) -> tuple[Path, Path]:
    """Binary junk, and a truncated gzip of a vvold log."""
    junk = written.root / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 64)
    src = hosts()[0]
    log = sim_vvold.write_vvold_log(sorted(src.vvold, key=lambda r: r.ts), "esxi7", 2100874, at(-7200))
    whole = gzip.compress(log["vvold.log"], mtime=0)
    truncated = written.root / "esx-03-vvold.0.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    written.extras += [junk, truncated]
    return junk, truncated
