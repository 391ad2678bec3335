"""Golden diagnoses: the JSON of a fixed set of simulated incidents, to prove a refactor changed nothing.

Why: the analysis is refactored for readability, and "behaviour stays the same" is checked
byte for byte rather than by the verdict alone. Every simulator scenario in both ESXi shapes
and a few seeds is written to a temporary folder, diagnosed at a fixed ``now`` in the shapes a
user hands over (bundle folders with vCenter exports and certificates, the ``.tgz`` archives,
the admin-shaped copies with vvold excerpts, a late-copied vvold.log), and each diagnosis' JSON
(:func:`vvolguard.report.jsonout.to_json`, temporary paths replaced by ``<OUT>``) is written to
``OUTDIR/<case>.json``.

Usage::

    python scripts/golden.py OUTDIR                 # write the golden diagnoses
    python scripts/golden.py OUTDIR --compare REF   # and exit 1 if any differs from REF
"""

from __future__ import annotations

import argparse
import difflib
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from vvolguard.pipeline import diagnose
from vvolguard.report.jsonout import to_json
from vvolguard.sim import simulate
from vvolguard.sim.output import ADMIN_DIR, ADMIN_ZONE
from vvolguard.sim.scenarios import SCENARIOS

#: Certificates are judged at this instant, whatever the wall clock says.
NOW = datetime(2026, 6, 1, tzinfo=UTC)
SEEDS = (1, 6)
SHAPES = (7, 8)


def _cases(work: Path) -> Iterator[tuple[str, str, list[Path], str | None]]:
    """(case name, root to normalise, inputs, tz) for every golden diagnosis."""
    for scenario in SCENARIOS:
        for esxi in SHAPES:
            for seed in SEEDS:
                name = f"{scenario}-esxi{esxi}-seed{seed}"
                out = work / name
                simulate(
                    scenario=scenario, hosts=4, vms=32, esxi=esxi, seed=seed, out=out, duration_s=2 * 3600
                )
                rest = [out / "vcenter", out / "certs"]
                yield f"{name}-folders", str(out), [*sorted(out.glob("esx-*")), *rest], None
                if seed == SEEDS[0]:
                    yield f"{name}-archives", str(out), [out / "archives", *rest], None
                    yield f"{name}-admin", str(out), [out / ADMIN_DIR], ADMIN_ZONE
    late = work / "saturation-late"
    simulate(scenario="saturation", hosts=4, vms=32, esxi=8, seed=1, out=late, late_vvold_s=6 * 3600)
    yield "saturation-late-vvold", str(late), [*sorted(late.glob("esx-*")), late / "vcenter"], None


def write(outdir: Path) -> int:
    outdir.mkdir(parents=True, exist_ok=True)
    count = 0
    with tempfile.TemporaryDirectory(prefix="vvg-golden-") as tmp:
        for name, root, inputs, tz in _cases(Path(tmp)):
            text = to_json(diagnose(inputs, now=NOW, tz=tz))
            text = text.replace(root, "<OUT>").replace(tmp, "<TMP>")
            (outdir / f"{name}.json").write_text(text + "\n", encoding="utf-8")
            count += 1
    return count


def compare(outdir: Path, ref: Path) -> int:
    """Number of differing or missing files (a short diff of each is printed)."""
    bad = 0
    names = sorted({p.name for p in outdir.glob("*.json")} | {p.name for p in ref.glob("*.json")})
    for name in names:
        a, b = ref / name, outdir / name
        if not a.exists() or not b.exists():
            print(f"{name}: only in {'new' if b.exists() else 'reference'}")
            bad += 1
        elif a.read_bytes() != b.read_bytes():
            bad += 1
            diff = difflib.unified_diff(
                a.read_text().splitlines(), b.read_text().splitlines(), str(a), str(b), lineterm="", n=1
            )
            print("\n".join(list(diff)[:40]))
    print(f"{len(names) - bad} of {len(names)} golden diagnoses identical")
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--compare", type=Path, help="reference folder from an earlier run")
    args = parser.parse_args()
    print(f"wrote {write(args.outdir)} golden diagnoses to {args.outdir}")
    if args.compare is not None:
        return 1 if compare(args.outdir, args.compare) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
