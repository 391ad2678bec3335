"""How fast does the simulator run a big evacuation? (issue #3: "a 16-host, 1,000-VM evacuation
simulates in seconds").

A 16-host cluster with 1,000 VMs on one vVol datastore goes through a rolling maintenance (every
host is evacuated in turn, as a cluster upgrade does), so every VM moves at least once against the
``midrange`` provider under vCenter's default limits. Printed side by side:

* simulated SimPy events per second of wall time, and virtual seconds per wall second (CPU
  seconds are shown too: on a shared machine wall time also measures the neighbours),
* the same run with the vvold/hostd/vmkernel records kept (what ``simulate --out`` needs) and
  without (what the sweep uses),
* the cost of writing the evidence (bundles as folders and ``.tgz``) for the run with records.

Nothing here asserts; the numbers are for a person (and CI logs) to read.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from vvolguard.sim import CountingEnvironment, build_world, evacuate, get_profile
from vvolguard.sim.output import write_evidence
from vvolguard.sim.scenarios import Plan


def rolling_maintenance(env: CountingEnvironment, world):  # type: ignore[no-untyped-def]
    results = []
    for host in world.hosts:
        proc = evacuate(world, host)
        env.run(until=proc)
        results.extend(proc.value)
    return results


def run(hosts: int, vms: int, seed: int, keep_records: bool, write: bool) -> dict:
    env = CountingEnvironment()
    cpu_started = time.process_time()
    started = time.perf_counter()
    world = build_world(
        env, get_profile("midrange"), hosts=hosts, vms=vms, seed=seed, keep_records=keep_records
    )
    results = rolling_maintenance(env, world)
    sim_wall = time.perf_counter() - started
    sim_cpu = time.process_time() - cpu_started
    write_wall = 0.0
    if write:
        plan = Plan("rolling-maintenance", None, "provider-saturation")
        plan.esxcli_status = {h: "online" for h in world.hosts}
        plan.pe_state = {h: "ok" for h in world.hosts}
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            write_evidence(world, plan, Path(tmp) / "out", seed)
            write_wall = time.perf_counter() - t
    return {
        "events": env.steps,
        "virtual_s": env.now,
        "sim_wall": sim_wall,
        "sim_cpu": sim_cpu,
        "write_wall": write_wall,
        "migrations": len(results),
        "failed": sum(not r.ok for r in results),
        "records": world.log_record_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(f"Rolling maintenance of {args.hosts} hosts, {args.vms} VMs, provider 'midrange', seed {args.seed}")
    header = (
        f"{'mode':<28}{'migrations':>11}{'failed':>8}{'events':>11}{'virtual':>10}{'wall':>8}{'cpu':>8}"
        f"{'events/s':>11}{'speed-up':>10}"
    )
    print(header)
    print("-" * len(header))
    for label, keep, write in (("model only (sweep mode)", False, False), ("with log records", True, True)):
        r = run(args.hosts, args.vms, args.seed, keep, write)
        rate = r["events"] / r["sim_wall"]
        print(
            f"{label:<28}{r['migrations']:>11}{r['failed']:>8}{r['events']:>11,}"
            f"{r['virtual_s'] / 3600:>9.1f}h{r['sim_wall']:>7.2f}s{r['sim_cpu']:>7.2f}s{rate:>11,.0f}"
            f"{r['virtual_s'] / r['sim_wall']:>9,.0f}x"
        )
        if write:
            print(
                f"{'  + writing the evidence':<28}{'':>11}{'':>8}{r['records']:>11,}{'':>10}"
                f"{r['write_wall']:>7.2f}s{'':>8}   (vvold records written, bundles as folders and .tgz)"
            )


if __name__ == "__main__":
    main()
