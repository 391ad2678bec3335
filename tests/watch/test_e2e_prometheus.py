"""End to end: the simulator's incident replayed over syslog (UDP and TCP) into ``vvolguard
watch`` (the CLI, as a process), scraped by a real Prometheus (Debian's) evaluating the shipped
alert rules. Saturation must fire ``VvolguardVasaSaturation``; a healthy day must fire nothing.
Loopback only; every loop is bounded."""

from __future__ import annotations

import heapq
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from tests.conftest import require_tool
from tests.watch.watch_helpers import wait_for

from vvolguard.analysis.counts import count_exprs
from vvolguard.evidence import logline as ll
from vvolguard.evidence.vvold_block import Block, parse_block
from vvolguard.watch import replay

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib" / "prometheus" / "vvolguard-alerts.yml"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _query(base: str, expr: str) -> float | None:
    doc = _get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    result = doc["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _simulate(scenario: str, out: Path, *extra: str) -> Path:
    cmd = [sys.executable, "-m", "vvolguard.cli.main", "simulate", "--scenario", scenario]
    cmd += ["--form", "folder", "--out", str(out), *extra]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return out


def _expected(logs: list[Path]) -> dict[str, int]:
    """What the diagnose reader counts in the same files, read directly."""
    totals = {"no_free_conn": 0, "busy": 0}
    for path in logs:
        data = path.read_bytes()
        parsed = parse_block(Block(data, 0, len(data), None), path.name, "h")
        if parsed.frame is None:
            continue
        flags = parsed.frame.frame.select(**{k: count_exprs()[k] for k in totals}).sum()
        for k in totals:
            totals[k] += int(flags[k][0])
    return totals


def _start_watch(tmp: Path) -> tuple[subprocess.Popen, dict[str, tuple[str, int]], int]:
    cmd = [sys.executable, "-m", "vvolguard.cli.main", "watch", "--syslog", "udp://127.0.0.1:0"]
    cmd += ["--syslog", "tcp://127.0.0.1:0", "--listen", "127.0.0.1:0", "--store", str(tmp / "store.db")]
    cmd += ["--no-check-seen-providers", "--no-table", "--interval", "0.1"]
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    bound: dict[str, tuple[str, int]] = {}
    metrics = 0
    end = time.monotonic() + 60
    assert proc.stderr is not None
    while time.monotonic() < end and (len(bound) < 2 or not metrics):
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"listening for syslog on (\w+)://([\d.]+):(\d+)", line)
        if m:
            bound[m[1]] = (m[2], int(m[3]))
        m = re.search(r"serving metrics on http://[\d.]+:(\d+)/metrics", line)
        if m:
            metrics = int(m[1])
    assert len(bound) == 2 and metrics, "watch did not start"
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
    return proc, bound, metrics


def _start_prometheus(tmp: Path, metrics_port: int) -> tuple[subprocess.Popen, str]:
    exe = require_tool("prometheus", "the end-to-end test scrapes watch with a real Prometheus")
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "VvolguardVasaSaturation":
                rule["for"] = "2s"  # the shipped expression, a shorter hold for an accelerated replay
    (tmp / "rules.yml").write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yml")],
        "scrape_configs": [
            {"job_name": "vvolguard", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    proc = subprocess.Popen(
        [
            exe,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    assert wait_for(ready, timeout=60, step=0.2), "prometheus did not become ready"
    return proc, base


def _replay(incident: Path, bound: dict[str, tuple[str, int]], seconds: float) -> list[Path]:
    """Every host's vvold/hostd/vmkernel lines in log-time order, squeezed into ``seconds``.
    Hosts alternate: UDP (one message per line, RFC 3164), TCP octet-counted multi-line RFC 5424,
    TCP newline-framed RFC 3164."""
    hosts = sorted(p for p in incident.iterdir() if p.name.startswith("esx-"))
    logs: list[Path] = []
    streams = []
    for i, bundle in enumerate(hosts):
        host = bundle.name.split("-")[1]
        for name in ("vvold.log", "hostd.log", "vmkernel.log"):
            path = bundle / "var" / "run" / "log" / name
            logs.append(path)
            recs = [
                (ll.parse_ts(r[0]).timestamp(), i, host, r)
                for r in replay.records(path.read_text().splitlines())
            ]
            streams.append(recs)
    merged = list(heapq.merge(*streams, key=lambda x: x[0]))
    t0, t1 = merged[0][0], merged[-1][0]
    speed = max(1.0, (t1 - t0) / seconds)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = {0: socket.create_connection(bound["tcp"]), 1: socket.create_connection(bound["tcp"])}
    start = time.monotonic()
    for t, i, host, rec in merged:
        delay = start + (t - t0) / speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        mode = i % 3
        if mode == 0:
            for m in replay.messages(rec, host, "3164", multiline=False):
                udp.sendto(m.encode(), bound["udp"])
        elif mode == 1:
            tcp[0].sendall(replay.frame(replay.to_syslog(rec, host, "5424"), octet=True))
        else:
            for m in replay.messages(rec, host, "3164", multiline=False):
                tcp[1].sendall(replay.frame(m, octet=False))
    for conn in tcp.values():
        conn.close()
    return logs


@pytest.mark.parametrize("scenario", ["saturation", "healthy"])
def test_prometheus_scrapes_watch_and_the_saturation_alert_fires(tmp_path: Path, scenario: str) -> None:
    extra = ("--duration", "1800") if scenario == "healthy" else ()
    incident = _simulate(scenario, tmp_path / "incident", *extra)
    watch, bound, metrics_port = _start_watch(tmp_path)
    prom = None
    try:
        prom, base = _start_prometheus(tmp_path, metrics_port)
        seen_firing: set[str] = set()
        done = threading.Event()

        def poll_alerts() -> None:
            while not done.is_set():
                try:
                    for alert in _get(f"{base}/api/v1/alerts")["data"]["alerts"]:
                        if alert["state"] == "firing":
                            seen_firing.add(
                                f"{alert['labels']['alertname']}:{alert['labels'].get('host', '')}"
                            )
                except OSError:
                    pass
                done.wait(0.25)

        poller = threading.Thread(target=poll_alerts, daemon=True)
        poller.start()
        logs = _replay(incident, bound, seconds=25 if scenario == "saturation" else 12)
        expected = _expected([p for p in logs if p.name == "vvold.log"])
        lines = sum(1 for p in logs for r in replay.records(p.read_text().splitlines()))

        def scraped(expr: str, value: float) -> bool:
            return _query(base, expr) == value

        # Prometheus has the exact counters (every line over UDP and TCP, none twice)
        assert wait_for(
            lambda: scraped("sum(vvolguard_vasa_no_free_connection_waits_total)", expected["no_free_conn"]),
            timeout=20,
        ), _query(base, "sum(vvolguard_vasa_no_free_connection_waits_total)")
        assert wait_for(
            lambda: scraped("sum(vvolguard_vasa_provider_busy_total)", expected["busy"]), timeout=10
        )
        assert wait_for(lambda: (_query(base, "sum(vvolguard_ingest_lines_total)") or 0) >= lines, timeout=10)
        assert _query(base, "sum(vvolguard_ingest_errors_total)") in (None, 0.0)
        time.sleep(3)  # a few more evaluations
        done.set()
        poller.join(5)
        rules = _get(f"{base}/api/v1/rules")["data"]["groups"]
        health = {r["name"]: r["health"] for g in rules for r in g["rules"]}
        assert set(health.values()) == {"ok"}, health
        if scenario == "saturation":
            assert expected["no_free_conn"] > 0
            assert any(a.startswith("VvolguardVasaSaturation:") for a in seen_firing), seen_firing
            assert "VvolguardMigrationFailures:esx01.vvol.lab" in seen_firing
            fired = _query(
                base, 'max_over_time(ALERTS{alertname="VvolguardVasaSaturation",alertstate="firing"}[5m])'
            )
            assert fired == 1.0
        else:
            assert expected == {"no_free_conn": 0, "busy": 0}
            assert not seen_firing
            assert _query(base, "max_over_time(max(vvolguard_vasa_pressure)[5m:1s])") == 0.0
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(20)
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(20) == 0  # SIGTERM stops cleanly
