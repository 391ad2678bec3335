"""How many log lines per second does one ``vvolguard watch`` process take from 500 hosts over
syslog (TCP and UDP on loopback) while Prometheus-style scrapes run, and does its memory stay flat?

Goal (issue #11): at least 100,000 lines/s on a 2-core machine, memory flat over a run 10 times
longer. The watch CLI runs as its own process; sender processes replay pre-built ESXi 8 vvold
messages (getEvents polling, createVirtualVolume and bindVirtualVolume with their FINAL lines,
now and then a "No free connections" wait) from 500 host names, over TCP (octet-counted,
several connections) and UDP; the main process scrapes ``/metrics`` once a second and reads
``vvolguard_ingest_lines_total`` (received), ``vvolguard_ingest_pending_lines`` (received, not
parsed yet) and the refusals, plus watch's RSS (psutil). UDP datagrams the kernel dropped
(``/proc/net/snmp`` RcvbufErrors) are reported too: they never reach watch.

"Sustained" is the rate of lines *parsed* (received minus still pending) over the run. Other work
on the machine shares the two cores, so each round runs a baseline first with the same senders: a
raw receiver that only reads the sockets and counts (the ceiling of one process right now), and
watch's rate is printed as a share of it, with the load average and the CPU time watch got
(lines per CPU-second does not depend on how busy the machine is). Best and median over
``--rounds``. Nothing asserts here; the numbers are for a person. ``--long`` runs watch once more,
10x longer, for the memory comparison (RSS after warm-up, mid-run, end).

Also printed: how many ESXi hosts that rate covers at a busy host's vvold rate, measured from
the simulator's saturation incident (its busiest host's peak minute of vvold lines).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HOSTS = 500
VPS = ("pure-ct0", "pure-ct1")


def _messages(n: int, seed: int) -> list[bytes]:
    import random

    rnd = random.Random(seed)
    out: list[bytes] = []
    seq = 100_000 * (seed + 1)
    for i in range(n):
        host = f"esx{rnd.randrange(HOSTS):03d}.bench.lab"
        vp = VPS[i % 2]
        ts = f"2026-03-14T10:{(i // 6000) % 60:02d}:{(i // 100) % 60:02d}.{i % 1000:03d}Z"
        pid = 2_260_000 + hash(host) % 1000
        seq += 1
        r = rnd.random()
        head = f"<166>{ts} {host} Vvold[{pid}]: [Originator@6876 sub=Default OpId=op-{seq}] "
        op = f"VasaOp::EventPollerCB [#{seq}]: ===> "
        cop = f"VasaOp::CreateVirtualVolumeInt [#{seq}]: ===> "
        cont = "Container (e0ad8389-3ead-3681-b1b7-f56a45ff64f1)"
        session = "[session state: Connected]"
        if r < 0.35:
            msg = f"{op}Issuing 'getEvents' to VP {vp} (#outstanding 0/5) {session}"
        elif r < 0.70:
            ms = rnd.randrange(20, 90)
            msg = f"{op}FINAL SUCCESS getEvents VP ({vp}) {cont} timeElapsed={ms} msecs (#outstanding 0)"
        elif r < 0.80:
            msg = (
                f"{cop}Issuing 'createVirtualVolume' to VP {vp} (#outstanding {rnd.randrange(5)}/5) {session}"
            )
        elif r < 0.90:
            ms = rnd.randrange(200, 4000)
            done = f"timeElapsed={ms} msecs (#outstanding 1)"
            msg = f"{cop}FINAL SUCCESS createVirtualVolume VP ({vp}) {cont} {done}"
        elif r < 0.99:
            bop = f"VasaOp::BindVirtualVolumeInt [#{seq}]: ===> "
            msg = f"{bop}Issuing 'bindVirtualVolume' to VP {vp} (#outstanding 2/5) {session}"
        else:
            head = head.replace("<166>", "<164>")
            url = "https://10.21.88.113:8084/vasa"
            msg = f"VasaSession::GetFreeConn: No free connections to VP {vp} (url: {url}) "
            msg += "[#outstanding 5/5] - waiting"
        out.append((head + msg).encode())
    return out


def _tcp_sender(port: int, seconds: float, seed: int, rate: float) -> None:
    buf = _framed(seed)
    per_chunk = 20_000
    with socket.create_connection(("127.0.0.1", port)) as conn:
        end = time.monotonic() + seconds
        start = time.monotonic()
        sent = 0
        while time.monotonic() < end:
            if rate and sent > (time.monotonic() - start) * rate:
                time.sleep(0.005)
                continue
            conn.sendall(buf)
            sent += per_chunk


def _udp_sender(port: int, seconds: float, seed: int, rate: float) -> None:
    msgs = _messages(20_000, seed)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end = time.monotonic() + seconds
    start = time.monotonic()
    sent = 0
    while time.monotonic() < end:
        for m in msgs[:1000]:
            sock.sendto(m, ("127.0.0.1", port))
        sent += 1000
        ahead = sent / rate - (time.monotonic() - start) if rate else 0
        if ahead > 0:
            time.sleep(ahead)


def _raw_receiver(ready: Any, result: Any, seconds_box: Any) -> None:
    """The baseline: one Python process that only receives (TCP ``recv_into``, UDP ``recvfrom``
    in a loop) and counts, nothing else; the ceiling of what one process can take on this
    machine right now, measured with the same senders, so watch's rate can be read as a ratio."""
    import selectors

    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    udp.bind(("127.0.0.1", 0))
    for sock in (tcp, udp):
        sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(tcp, selectors.EVENT_READ, "accept")
    sel.register(udp, selectors.EVENT_READ, "udp")
    ready.send((tcp.getsockname()[1], udp.getsockname()[1]))
    buf = bytearray(1 << 20)
    tcp_bytes = datagrams = 0
    start = None
    conns = 0
    while True:
        for key, _ in sel.select(timeout=1.0):
            if key.data == "accept":
                conn, _addr = tcp.accept()
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, "tcp")
                conns += 1
                start = start or time.monotonic()
            elif key.data == "udp":
                start = start or time.monotonic()
                for _ in range(512):
                    try:
                        udp.recvfrom(65535)
                    except BlockingIOError:
                        break
                    datagrams += 1
            else:
                n = key.fileobj.recv_into(buf)  # type: ignore[union-attr]
                if not n:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()  # type: ignore[union-attr]
                    conns -= 1
                tcp_bytes += n
        if start is not None and conns == 0 and time.monotonic() - start > seconds_box + 0.5:
            break
    result.send((tcp_bytes, datagrams))


def baseline(seconds: float, tcp_conns: int, udp_senders: int, udp_rate: float) -> float:
    """Messages per second the raw receiver took from the same senders (see :func:`_raw_receiver`)."""
    ready_r, ready_w = mp.Pipe(duplex=False)
    res_r, res_w = mp.Pipe(duplex=False)
    rx = mp.Process(target=_raw_receiver, args=(ready_w, res_w, seconds))
    rx.start()
    tcp_port, udp_port = ready_r.recv()
    senders = _senders(tcp_port, udp_port, seconds, tcp_conns, udp_senders, udp_rate)
    t0 = time.monotonic()
    for sp in senders:
        sp.start()
    for sp in senders:
        sp.join()
    elapsed = time.monotonic() - t0
    tcp_bytes, datagrams = res_r.recv()
    rx.join(10)
    per_message = len(_framed(0)) / 20_000  # bytes per octet-counted message, as the TCP senders send
    return (tcp_bytes / per_message + datagrams) / elapsed


def _framed(seed: int) -> bytes:
    return b"".join(str(len(m)).encode() + b" " + m for m in _messages(20_000, seed))


def _senders(
    tcp_port: int, udp_port: int, seconds: float, tcp_conns: int, udp_senders: int, udp_rate: float
) -> list[mp.Process]:
    out = [mp.Process(target=_tcp_sender, args=(tcp_port, seconds, i, 0.0)) for i in range(tcp_conns)]
    for i in range(udp_senders):
        out.append(mp.Process(target=_udp_sender, args=(udp_port, seconds, 100 + i, udp_rate)))
    return out


def _scrape(port: int, timeout: float = 60.0) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {"lines": 0.0, "pending": 0.0, "refused": 0.0}
    for line in text.splitlines():
        if line.startswith("vvolguard_ingest_lines_total"):
            out["lines"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("vvolguard_ingest_pending_lines"):
            out["pending"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("vvolguard_ingest_errors_total"):
            out["refused"] += float(line.rsplit(" ", 1)[1])
    return out


def _udp_kernel_drops() -> int:
    try:
        rows = [r.split() for r in Path("/proc/net/snmp").read_text().splitlines() if r.startswith("Udp:")]
        return int(rows[1][rows[0].index("RcvbufErrors")])
    except (OSError, ValueError, IndexError):
        return 0


def run(seconds: float, tcp_conns: int, udp_senders: int, udp_rate: float) -> dict[str, float]:
    import psutil

    cmd = [sys.executable, "-m", "vvolguard.cli.main", "watch", "--syslog", "tcp://127.0.0.1:0"]
    cmd += ["--syslog", "udp://127.0.0.1:0", "--listen", "127.0.0.1:0", "--no-store", "--no-table"]
    cmd += ["--no-check-seen-providers"]
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    ports: dict[str, int] = {}
    assert proc.stderr is not None
    while len(ports) < 3:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit("watch did not start")
        m = re.search(r"listening for syslog on (\w+)://[\d.]+:(\d+)", line)
        if m:
            ports[m[1]] = int(m[2])
        m = re.search(r"serving metrics on http://[\d.]+:(\d+)/metrics", line)
        if m:
            ports["metrics"] = int(m[1])
    watch = psutil.Process(proc.pid)
    drops0 = _udp_kernel_drops()
    senders = _senders(ports["tcp"], ports["udp"], seconds, tcp_conns, udp_senders, udp_rate)
    first = _scrape(ports["metrics"])
    cpu0 = sum(watch.cpu_times()[:2])
    t0 = time.monotonic()
    for s in senders:
        s.start()
    peak_rss = watch.memory_info().rss
    rss_samples = []
    last = first
    slowest = 0.0
    while any(s.is_alive() for s in senders):
        time.sleep(1.0)
        asked = time.monotonic()
        last = _scrape(ports["metrics"])
        slowest = max(slowest, time.monotonic() - asked)
        rss = watch.memory_info().rss
        peak_rss = max(peak_rss, rss)
        rss_samples.append(rss)
    for s in senders:
        s.join()
    t1 = time.monotonic()
    cpu = sum(watch.cpu_times()[:2]) - cpu0
    parsed_at_end = last["lines"] - last["pending"]
    # let the parser finish what is buffered, then stop
    for _ in range(60):
        done = _scrape(ports["metrics"])
        if done["pending"] == 0:
            break
        time.sleep(0.5)
    proc.terminate()
    proc.wait(30)
    elapsed = t1 - t0
    return {
        "seconds": elapsed,
        "received_per_s": (last["lines"] - first["lines"]) / elapsed,
        "parsed_per_s": (parsed_at_end - (first["lines"] - first["pending"])) / elapsed,
        "refused": done["refused"],
        "slowest_scrape_s": slowest,
        "cpu_share": cpu / elapsed,  # CPUs' worth of time watch got (2.0 = both cores)
        "per_cpu_s": (parsed_at_end - (first["lines"] - first["pending"])) / cpu if cpu else 0.0,
        "udp_kernel_drops": _udp_kernel_drops() - drops0,
        "peak_rss_mib": peak_rss / 2**20,
        "rss_warm_mib": rss_samples[len(rss_samples) // 5] / 2**20 if rss_samples else 0,
        "rss_mid_mib": rss_samples[len(rss_samples) // 2] / 2**20 if rss_samples else 0,
        "rss_end_mib": rss_samples[-1] / 2**20 if rss_samples else 0,
    }


def busy_host_rate() -> float:
    """Peak vvold lines per second of the busiest host in a simulated saturation incident."""
    from collections import Counter

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "vvolguard.cli.main",
                "simulate",
                "--scenario",
                "saturation",
                "--form",
                "folder",
                "--out",
                tmp,
            ],
            check=True,
            capture_output=True,
        )
        best = 0.0
        for log in Path(tmp).glob("esx-*/var/run/log/vvold.log"):
            minutes = Counter(line[:16] for line in log.read_text().splitlines() if line[:4].isdigit())
            best = max(best, max(minutes.values(), default=0) / 60.0)
        return best


def _uptime() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3, help="baseline/watch pairs (best and median)")
    ap.add_argument("--tcp", type=int, default=2, help="TCP sender processes (one connection each)")
    ap.add_argument("--udp", type=int, default=1, help="UDP sender processes")
    ap.add_argument("--udp-rate", type=float, default=20_000.0, help="datagrams/s per UDP sender")
    ap.add_argument("--long", action="store_true", help="also run watch 10x longer (memory flatness)")
    args = ap.parse_args()
    print(_uptime())
    watch_rates: list[float] = []
    ratios: list[float] = []
    last: dict[str, float] = {}
    for i in range(args.rounds):
        raw = baseline(args.seconds, args.tcp, args.udp, args.udp_rate)
        last = run(args.seconds, args.tcp, args.udp, args.udp_rate)
        watch_rates.append(last["parsed_per_s"])
        ratios.append(last["parsed_per_s"] / raw if raw else 0.0)
        print(
            f"round {i + 1}: raw receive {raw:,.0f} msgs/s | watch received {last['received_per_s']:,.0f}, "
            f"parsed {last['parsed_per_s']:,.0f} lines/s ({ratios[-1]:.0%} of raw; "
            f"{last['per_cpu_s']:,.0f} lines per CPU-second, watch got {last['cpu_share']:.2f} CPUs) | "
            "refused "
            f"{last['refused']:.0f}, UDP kernel drops {last['udp_kernel_drops']} | RSS after warm-up "
            f"{last['rss_warm_mib']:.0f} MiB, end {last['rss_end_mib']:.0f}, "
            f"peak {last['peak_rss_mib']:.0f} | "
            f"slowest scrape {last['slowest_scrape_s']:.1f} s | {_uptime()}"
        )
    print(
        f"{args.seconds:.0f} s rounds, {HOSTS} hosts, {args.tcp} TCP + {args.udp} UDP senders, scraped "
        f"every second: watch parsed best {max(watch_rates):,.0f} lines/s, median "
        f"{statistics.median(watch_rates):,.0f}; of the raw receive rate best {max(ratios):.0%}, median "
        f"{statistics.median(ratios):.0%}"
    )
    if args.long:
        long = run(args.seconds * 10, args.tcp, args.udp, args.udp_rate)
        print(
            f"{args.seconds * 10:.0f} s run: parsed {long['parsed_per_s']:,.0f} lines/s; RSS after warm-up "
            f"{long['rss_warm_mib']:.0f} MiB, mid-run {long['rss_mid_mib']:.0f}, "
            f"end {long['rss_end_mib']:.0f} "
            f"(growth {long['rss_end_mib'] - long['rss_warm_mib']:+.0f} MiB after warm-up; the "
            f"{args.seconds:.0f} s run ended at {last['rss_end_mib']:.0f}) | {_uptime()}"
        )
        last = long
    rate = busy_host_rate()
    print(f"busiest simulated host during a saturation storm: {rate:.1f} vvold lines/s (peak minute)")
    if rate:
        print(f"=> {max(watch_rates):,.0f} lines/s covers about {max(watch_rates) / rate:,.0f} such hosts")
    print(_uptime())


if __name__ == "__main__":
    main()
