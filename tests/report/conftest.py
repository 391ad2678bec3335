"""Hand-built Diagnoses for the renderers.

The analysis that fills a Diagnosis is written separately, so these samples are built by code here,
shaped like real incidents:

* ``saturation``: esx-03 enters maintenance mode, 8 vMotions start within 40 s, provider vasa-a01
  reaches its ceiling of 5 outstanding operations on esx-03, vvold logs "No free connections" and
  PROVIDER_BUSY, createVirtualVolume climbs to 40 s and 3 migrations fail.
* ``healthy``: a small drain that went fine; providers online, latency flat.
* ``insufficient``: one unreadable file; nothing to conclude, a list of what to collect.

``big_saturation`` stretches the same incident over hours with thousands of timeline points, to
check the HTML stays small.
"""

from __future__ import annotations

import importlib.util
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vvolguard.analysis.model import (
    Diagnosis,
    FailedMigration,
    FailureClass,
    Finding,
    InputFile,
    Migrations,
    MissingEvidence,
    PESummary,
    ProviderSummary,
    Severity,
    StormWindow,
    Verdict,
)
from vvolguard.analysis.signals import COUNT_NAMES
from vvolguard.records import Citation, ReadWarning

T0 = datetime(2026, 3, 10, 14, 0, 0, tzinfo=UTC)
HOSTS = ["esx-01", "esx-02", "esx-03"]
VPS = ["vasa-a01", "vasa-b01"]
VVOLD_03 = "esx-esx-03-2026-03-10--14.40-2871.tgz!var/run/log/vvold.log"
VVOLD_01 = "esx-esx-01-2026-03-10--14.41-1934.tgz!var/run/log/vvold.log"
TASKS = "vcenter-tasks-2026-03-10.csv"


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _pressure(t: float, start: float, peak: float, end: float) -> float:
    """0 before ``start``, rising to 1 at ``peak``, staying until ``end``, then falling off."""
    if t < start:
        return 0.0
    if t < peak:
        return (t - start) / (peak - start)
    if t <= end:
        return 1.0
    return max(0.0, 1.0 - (t - end) / 120.0)


def _timeline(bucket: int, duration: float, storm_start: float, storm_end: float) -> list[dict]:
    """Buckets per (host, vp): vasa-a01 on esx-03 saturates, esx-01 feels it, vasa-b01 stays calm."""
    out: list[dict] = []
    peak = storm_start + 90
    for i in range(int(duration // bucket)):
        t = i * bucket
        for host in HOSTS:
            for vp in VPS:
                p = _pressure(t, storm_start, peak, storm_end)
                if vp == "vasa-a01" and host == "esx-03":
                    outstanding = min(5, 1 + round(4 * p))
                    nfc = round(8 * p * (0.6 + 0.4 * math.sin(i))) if outstanding >= 5 else 0
                    busy = round(3 * p * (0.5 + 0.5 * math.cos(i))) if outstanding >= 5 else 0
                    timeout = 1 if outstanding >= 5 and i % 4 == 0 else 0
                    p95 = 250 + 39_750 * p
                    mx = p95 * 1.03 if p > 0 else 310.0
                elif vp == "vasa-a01" and host == "esx-01":
                    outstanding = 1 + round(2 * p)
                    nfc = busy = timeout = 0
                    p95 = 220 + 9_000 * p
                    mx = p95 * 1.2
                else:
                    outstanding = 1 if (i + len(host)) % 3 else 0
                    nfc = busy = timeout = 0
                    p95, mx = 180.0 + (i % 5) * 10, 260.0 + (i % 7) * 15
                quiet = vp == "vasa-b01" and i % 6 == 5
                out.append(
                    {
                        "t": _at(t),
                        "host": host,
                        "vp": vp,
                        "outstanding_max": outstanding,
                        "ceiling": 5,
                        "no_free_conn": nfc,
                        "busy": busy,
                        "timeout": timeout,
                        "failure": busy,
                        "create_ms_max": None if quiet else round(mx, 1),
                        "create_ms_p95": None if quiet else round(p95, 1),
                    }
                )
    return out


def _in_flight(bucket: int, duration: float, starts: list[float], ends: list[float]) -> list[dict]:
    out = []
    for i in range(int(duration // bucket)):
        t = i * bucket
        n = sum(1 for s, e in zip(starts, ends, strict=True) if s <= t < e)
        out.append({"t": _at(t), "source_host": "esx-03", "in_flight": n})
        out.append({"t": _at(t), "source_host": "esx-01", "in_flight": 1 if 900 <= t < 960 else 0})
    return out


def _per_provider(timeline: list[dict]) -> list[dict]:
    rows = []
    for host in HOSTS:
        for vp in VPS:
            pts = [p for p in timeline if p["host"] == host and p["vp"] == vp]
            lat = sorted(p["create_ms_p95"] for p in pts if p["create_ms_p95"] is not None)
            at_ceiling = sum(1 for p in pts if p["outstanding_max"] >= p["ceiling"])
            rows.append(
                {
                    "host": host,
                    "vp": vp,
                    "counts": {
                        "issue": 40 * len(pts),
                        "success": 39 * len(pts),
                        "failure": sum(p["failure"] for p in pts),
                        "no_free_conn": sum(p["no_free_conn"] for p in pts),
                        "busy": sum(p["busy"] for p in pts),
                        "timeout": sum(p["timeout"] for p in pts),
                        "setcontext_failure": 0,
                        "transport": 0,
                        "ssl": 0,
                        "bind_retry": sum(p["busy"] for p in pts) // 2,
                    },
                    "ceiling": 5,
                    "max_outstanding": max(p["outstanding_max"] for p in pts),
                    "at_ceiling_seconds": float(at_ceiling * 30),
                    "create_latency_ms": {
                        "count": len(lat),
                        "p50": lat[len(lat) // 2] if lat else None,
                        "p95": lat[int(len(lat) * 0.95)] if lat else None,
                        "max": max(p["create_ms_max"] or 0 for p in pts) or None,
                    },
                    "first": pts[0]["t"],
                    "last": pts[-1]["t"],
                }
            )
    return rows


SATURATION_CITES = [
    Citation(
        VVOLD_03,
        48213,
        "2026-03-10T14:03:31.402Z info vvold[2099041] [Originator@6876 sub=Default] "
        "VasaOp::CreateVirtualVolumeInt [#91822]: ===> Issuing 'createVirtualVolume' to VP vasa-a01 "
        "(#outstanding 5/5) [session state: Connected]",
    ),
    Citation(
        VVOLD_03,
        48217,
        "2026-03-10T14:03:31.988Z warning vvold[2099041] [Originator@6876 sub=Default] "
        "VasaSession::GetFreeConn: No free connections to VP vasa-a01 "
        "(url: https://10.20.0.21:8443/vasa/services/vasaService?version=4), waiting",
    ),
    Citation(
        VVOLD_03,
        48390,
        "2026-03-10T14:05:02.117Z error vvold[2099041] [Originator@6876 sub=Default] "
        "VasaOp::ThrowFromSessionError [#91840]: ===> FINAL FAILURE bindVirtualVolume, error "
        "(PROVIDER_BUSY / Provider is busy, retry later) VP (vasa-a01) Container (<unset>)",
    ),
    Citation(
        VVOLD_03,
        48771,
        "2026-03-10T14:06:05.530Z info vvold[2099041] [Originator@6876 sub=Default] "
        "VasaOp::ThrowFromSessionError [#91822]: ===> FINAL SUCCESS createVirtualVolume VP (vasa-a01) "
        "Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) timeElapsed=40122 msecs (#outstanding 5)",
    ),
    Citation(
        TASKS,
        14,
        '"task-4012","Relocate virtual machine","web-07","esx-03.lab.local","Failed",'
        '"A system error occurred.","2026-03-10 14:06:10"',
    ),
    Citation(
        VVOLD_01,
        1022,
        "2026-03-10T14:04:10.003Z info vvold[2101877] [Originator@6876 sub=Default] "
        "VasaOp::CreateVirtualVolumeInt [#5521]: ===> Issuing 'createVirtualVolume' to VP vasa-a01 "
        "(#outstanding 3/5) [session state: Connected]",
    ),
]


def build_saturation(*, duration: float = 1200, bucket: int = 30) -> Diagnosis:
    """The KB 318662 pattern: a storm from esx-03 saturates vasa-a01; 3 of 8 migrations fail."""
    storm_start, storm_end = 120.0, 120.0 + duration * 0.45
    starts = [125 + 5 * i for i in range(8)]
    ends = [starts[i] + (240 + 25 * i if i not in (2, 4, 6) else 0) for i in range(8)]
    fail_at = {2: 370.0, 4: 450.0, 6: 545.0}
    for i, t in fail_at.items():
        ends[i] = t
    timeline = _timeline(bucket, duration, storm_start, storm_end)
    vms = [f"web-{i + 1:02d}" for i in range(8)]
    failed = [
        FailedMigration(
            task_id=f"task-40{10 + i}",
            vm=vms[i],
            source="esx-03",
            destination=HOSTS[(i // 2) % 2],
            time=_at(t),
            error="A system error occurred.",
            datastore="vvol-gold",
            nearby_signals={"esx-03": {"no_free_conn": 6.0, "busy": 2.0, "create_p95_ms": 38_500.0}},
            citation=Citation(TASKS, 12 + i, f'"task-40{10 + i}","Relocate virtual machine","{vms[i]}"'),
        )
        for i, t in fail_at.items()
    ]
    saturation = Finding(
        id=FailureClass.PROVIDER_SATURATION,
        title="VASA provider vasa-a01 ran out of connections during the esx-03 evacuation",
        severity=Severity.HIGH,
        confidence=0.92,
        reason=(
            "vasa-a01 sat at its ceiling of 5 outstanding operations on esx-03 for 7 minutes while 8 "
            "migrations were in flight; vvold logged 'No free connections' and PROVIDER_BUSY, and "
            "createVirtualVolume took up to 40 s. Providers stayed online."
        ),
        citations=list(SATURATION_CITES),
        next_moves=[
            "Pause the maintenance-mode evacuation of esx-03; do not mass-retry the 3 failed migrations.",
            "Wait until vvold on esx-03 shows #outstanding below 5 for vasa-a01, then retry one VM (web-03).",
            "Drain esx-03 at most 2 migrations at a time: vvolguard drain esx-03 --max-concurrency 2",
            "Escalate to the array vendor with this evidence: vvolguard escalate --out case.tgz <evidence>",
        ],
        hosts=["esx-03", "esx-01"],
        providers=["vasa-a01"],
    )
    cert = Finding(
        id=FailureClass.CERTIFICATE_LIFECYCLE,
        title="Certificate of vasa-b01 expires in 24 days",
        severity=Severity.LOW,
        confidence=0.99,
        reason="Not the cause of these failures, but it will break vCenter ↔ vasa-b01 when it lapses.",
        citations=[Citation("vasa-b01.pem", None, "notAfter=2026-04-03T09:00:00Z CN=vasa-b01.lab.local")],
        next_moves=["Plan renewal of the vasa-b01 certificate with the array vendor."],
        providers=["vasa-b01"],
    )
    warnings = [
        ReadWarning(VVOLD_03, 100 + i * 37, "line does not match any vvold shape; skipped") for i in range(6)
    ] + [
        ReadWarning("notes.txt", None, "unrecognised file; not used"),
        ReadWarning(
            TASKS,
            2,
            "times carry no time zone; they were taken as UTC (export from a UTC session to be sure)",
            caveat=True,
        ),
    ]
    return Diagnosis(
        verdict=Verdict(
            cls=FailureClass.PROVIDER_SATURATION,
            confidence=0.92,
            summary=(
                "VASA provider vasa-a01 saturated (5/5 outstanding, 'No free connections') while 8 "
                "vMotions left esx-03 at once; 3 failed with 'A system error occurred.'"
            ),
        ),
        findings=[saturation, cert],
        providers=[
            ProviderSummary(
                name="vasa-a01",
                url="https://10.20.0.21:8443/vasa/services/vasaService?version=4",
                status={"esx-01": "online", "esx-02": "online", "esx-03": "online", "vcenter": "online"},
                arrays=["array-a"],
                version="6.2.1",
                max_outstanding_seen=5,
                ceiling=5,
            ),
            ProviderSummary(
                name="vasa-b01",
                url="https://10.20.0.22:8443/vasa",
                status={"esx-01": "online", "esx-02": "online", "esx-03": "online"},
                arrays=["array-b"],
                version="6.2.1",
                certificate={"subject": "CN=vasa-b01.lab.local", "not_after": "2026-04-03T09:00:00Z"},
                max_outstanding_seen=1,
                ceiling=5,
            ),
        ],
        protocol_endpoints=[
            PESummary("rfc4122.1f6c0a1e", h, "array-a", True, True, ["vvol-gold"]) for h in HOSTS
        ],
        signals={
            "bucket_seconds": bucket,
            "per_provider": _per_provider(timeline),
            "timeline": timeline,
            "migrations_in_flight": _in_flight(bucket, duration, starts, ends),
        },
        migrations=Migrations(
            total=9,
            succeeded=6,
            failed=failed,
            peak_concurrency={"esx-03": 8, "esx-01": 1},
            storms=[StormWindow("esx-03", _at(125), _at(max(ends)), 8, 8, 3)],
        ),
        certificates=[
            {"subject": "CN=vasa-b01.lab.local", "not_after": "2026-04-03T09:00:00Z", "days_left": 24}
        ],
        missing_evidence=[
            MissingEvidence(
                artifact="esxcli storage vvol protocolendpoint list (esx-03)",
                why="Rules out Protocol Endpoint presentation on the source host.",
                command="esxcli storage vvol protocolendpoint list > esx-03-pe.txt",
            )
        ],
        warnings=warnings,
        inputs=[
            InputFile(VVOLD_03, "vvold-log", "esx-03", 51234),
            InputFile(VVOLD_01, "vvold-log", "esx-01", 20411),
            InputFile(TASKS, "vcenter-tasks", None, 9),
            InputFile("notes.txt", "unknown", None, 0),
        ],
        hosts=list(HOSTS),
        incident_window=(T0, _at(duration)),
        now=datetime(2026, 3, 10, 15, 0, tzinfo=UTC),
        thresholds={"storm_min_concurrency": 4.0, "create_latency_slow_ms": 10_000.0},
    )


def build_healthy() -> Diagnosis:
    bucket = 60
    timeline = [
        {
            "t": _at(i * bucket),
            "host": h,
            "vp": "vasa-a01",
            "outstanding_max": 1 + (i % 2),
            "ceiling": 5,
            "no_free_conn": 0,
            "busy": 0,
            "timeout": 0,
            "failure": 0,
            "create_ms_max": 300.0 + i,
            "create_ms_p95": 240.0 + i,
        }
        for i in range(20)
        for h in HOSTS[:2]
    ]
    return Diagnosis(
        verdict=Verdict(
            cls=FailureClass.HEALTHY,
            confidence=0.8,
            summary=(
                "Providers online, Protocol Endpoints accessible, no VASA pressure; "
                "4 of 4 migrations succeeded."
            ),
        ),
        findings=[
            Finding(
                id=FailureClass.HEALTHY,
                title="No vVol control-plane problem found",
                severity=Severity.INFO,
                confidence=0.8,
                reason="Outstanding operations stayed at or below 2 of 5 and no waits were logged.",
                citations=[Citation("esx-01/vasaprovider.txt", 3, "   Status: online")],
            )
        ],
        providers=[
            ProviderSummary("vasa-a01", "https://10.20.0.21:8443/vasa", {"esx-01": "online"}, ceiling=5)
        ],
        signals={
            "bucket_seconds": bucket,
            "per_provider": _per_provider_healthy(timeline),
            "timeline": timeline,
            "migrations_in_flight": [
                {"t": _at(i * bucket), "source_host": "esx-02", "in_flight": 2 if 3 <= i < 8 else 0}
                for i in range(20)
            ],
        },
        migrations=Migrations(total=4, succeeded=4, peak_concurrency={"esx-02": 2}),
        hosts=HOSTS[:2],
        incident_window=(T0, _at(20 * bucket)),
        now=_at(3600),
    )


def _per_provider_healthy(timeline: list[dict]) -> list[dict]:
    return [
        {
            "host": h,
            "vp": "vasa-a01",
            "counts": dict.fromkeys(
                COUNT_NAMES,
                0,
            ),
            "ceiling": 5,
            "max_outstanding": 2,
            "at_ceiling_seconds": 0.0,
            "create_latency_ms": {"count": 20, "p50": 250.0, "p95": 258.0, "max": 319.0},
            "first": timeline[0]["t"],
            "last": timeline[-1]["t"],
        }
        for h in HOSTS[:2]
    ]


def build_insufficient() -> Diagnosis:
    """Nothing usable: every optional field empty or None, the renderers must still cope."""
    return Diagnosis(
        verdict=Verdict(
            cls=FailureClass.INSUFFICIENT_EVIDENCE,
            confidence=0.0,
            summary="No vvold.log, provider list or task export was found in the input.",
        ),
        findings=[
            Finding(
                id=FailureClass.INSUFFICIENT_EVIDENCE,
                title="Not enough evidence to classify the failure",
                severity=Severity.MEDIUM,
                confidence=0.0,
                reason="None of the inputs is a vVol control-plane artifact.",
            )
        ],
        missing_evidence=[
            MissingEvidence(
                "vvold.log (source host)",
                "Shows VASA pressure: outstanding operations, waits, PROVIDER_BUSY.",
                "vm-support --output /vmfs/volumes/datastore1  # or copy /var/run/log/vvold.log",
            ),
            MissingEvidence(
                "esxcli storage vvol vasaprovider list (source host)",
                "Separates a saturated provider from an offline or syncError one.",
                "esxcli storage vvol vasaprovider list > vp.txt",
            ),
            MissingEvidence(
                "vCenter task export",
                "Names the failed migrations, their hosts and times.",
                "Get-Task | Export-Csv tasks.csv",
            ),
        ],
        warnings=[
            ReadWarning("screenshot.png", None, "binary file; not evidence"),
            ReadWarning("hostd.log", 7, "truncated gzip stream"),
        ],
        inputs=[InputFile("screenshot.png", "unknown", None, 0)],
    )


@pytest.fixture
def saturation() -> Diagnosis:
    return build_saturation()


@pytest.fixture
def healthy() -> Diagnosis:
    return build_healthy()


@pytest.fixture
def insufficient() -> Diagnosis:
    return build_insufficient()


@pytest.fixture(params=["saturation", "healthy", "insufficient"])
def any_diagnosis(request: pytest.FixtureRequest) -> Diagnosis:
    return {"saturation": build_saturation, "healthy": build_healthy, "insufficient": build_insufficient}[
        request.param
    ]()


@pytest.fixture
def saturation_factory():  # type: ignore[no-untyped-def]
    """``build_saturation`` itself, for tests that need a fresh or a longer incident."""
    return build_saturation


@pytest.fixture(scope="session")
def chromium_exe(request: pytest.FixtureRequest) -> str:
    """Chromium's path via ``tests/conftest.py::require_tool`` (skips locally without it, fails
    in CI). Both conftests are called ``conftest``, so the root one is reached by its path."""
    root = Path(__file__).resolve().parents[1] / "conftest.py"
    module = request.config.pluginmanager.get_plugin(str(root))
    if module is None:
        spec = importlib.util.spec_from_file_location("vvolguard_tests_root_conftest", root)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module.require_tool("chromium", "renders the HTML report in a real browser")
