"""``vvolguard demo``: the main job on a fresh machine with no input.

Simulates the KB 318662 incident (a maintenance-mode evacuation saturating the VASA provider)
into a temporary folder, as real ``.tgz`` support bundles plus vCenter exports and the
provider certificate, then diagnoses it exactly as a user's evidence would be diagnosed.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from vvolguard.cli.console import error, make_console, print_line
from vvolguard.cli.simulate import Shape


def register(app: typer.Typer) -> None:
    app.command(
        "demo",
        help=(
            "Simulate a maintenance-mode evacuation that saturates the VASA provider, then diagnose "
            "the simulated evidence. Needs no input."
        ),
    )(demo_command)


def demo_command(
    esxi: Shape = typer.Option(Shape.eight, "--esxi", help="ESXi log shape of the simulated hosts."),
    seed: int = typer.Option(1, "--seed", metavar="N", help="Simulation seed."),
    keep: Path | None = typer.Option(
        None, "--keep", metavar="DIR", help="Keep the simulated evidence in this (new) folder."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every citation and warning."),
) -> None:
    from vvolguard.sim.run import simulate

    console = make_console()
    err = make_console(stderr=True)
    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        error(err, f"{keep} exists and is not an empty folder.")
        raise typer.Exit(2)
    work = Path(tempfile.mkdtemp(prefix="vvolguard-demo-"))
    try:
        out = work / "incident"
        _heading(console, "1. Simulating the incident")
        result = simulate(scenario="saturation", esxi=esxi.value, seed=seed, out=out, formats="tgz")
        console.print(
            f"4 ESXi {esxi.value} hosts, provider '{result.ground_truth['provider']['profile']}'; "
            f"esx01 enters maintenance mode and DRS moves its VMs: {result.migrations} migrations, "
            f"{result.failed} failed (simulated in {result.wall_s:.2f} s)."
        )
        console.print(
            f"Evidence: {len(result.ground_truth.get('files', []))} files (support bundles, vCenter "
            "exports, provider certificate)."
        )
        try:
            from vvolguard.pipeline import diagnose
            from vvolguard.report.terminal import render_terminal
        except ImportError as exc:  # a missing part must say so, not crash
            error(err, f"the diagnosis part is not available ({exc}); the evidence is in {out}")
            keep = keep or Path.cwd() / "vvolguard-demo-evidence"
            raise typer.Exit(1) from None
        _heading(console, "2. vvolguard diagnose")
        # One export of the tasks, as an admin would hand over: the Tasks CSV carries no task ids,
        # so beside Get-Task JSON of the same tasks it would describe each migration twice.
        exports = [
            out / "vcenter" / name for name in ("get-task.json", "get-vievent.json", "get-vasaprovider.json")
        ]
        paths = [out / "archives", *exports, out / "certs", out / "ground-truth.json"]
        end = datetime.fromisoformat(result.ground_truth["window"]["end"])
        diagnosis = diagnose(paths, now=end)
        render_terminal(diagnosis, console, verbose=verbose)
        _heading(console, "3. The same incident as admins often send it")
        admin = out / "admin"
        zone = result.ground_truth.get("admin_local_zone")
        console.print(
            "Instead of bundles and PowerCLI exports: a PuTTY log of esxcli commands, Windows "
            f"PowerShell 5.1 exports, a vSphere Client CSV in local time ({zone}, given with --tz) "
            "and grep excerpts of each host's vvold logs, in the admin/ folder of the evidence.",
            markup=False,
        )
        as_sent = diagnose([admin], now=end, tz=zone)
        same = as_sent.verdict.cls == diagnosis.verdict.cls
        console.print(
            "The same verdict as from the bundles:" if same else "NOT the same verdict as from the bundles:"
        )
        console.print(f"  {as_sent.verdict.summary}", markup=False)
        _heading(console, "4. What really happened (simulator ground truth)")
        for sentence in result.ground_truth.get("what_happened", []):
            console.print(f"  {sentence}", markup=False)
        verdict = diagnosis.verdict.cls
        mark = "[green]matches[/]" if verdict == result.expected_class else "[red]differs from[/]"
        console.print(f"Diagnosis '{verdict}' {mark} the ground truth '{result.expected_class}'.")
        console.print("Next: find how many migrations at once this provider sustains:")
        print_line(console, "vvolguard simulate sweep --concurrency 1..16", indent=2)
    finally:
        if keep is not None and (work / "incident").exists():
            shutil.copytree(work / "incident", keep, dirs_exist_ok=True)
            print_line(console, f"Evidence kept in {keep}")
        shutil.rmtree(work, ignore_errors=True)


def _heading(console: Console, title: str) -> None:
    """A rule across a terminal; off a terminal (unbounded width) a plain underlined title."""
    if console.soft_wrap:
        console.print()
        console.print(Text(f"== {title} ==", style="bold"))
    else:
        console.rule(Text(title, style="bold"))
