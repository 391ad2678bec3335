"""Start-up stays lean: a command imports what it needs, and the lazy root still shows everything.

Every ``vvolguard diagnose`` pays its start-up before reading a byte (the parse benchmark's ratio
includes it), so modules that only other commands or other evidence need must not be imported:
the simulator (simpy), the drain (pyVmomi, asyncssh), the reports (jinja2, matplotlib,
markdown-it) and cryptography unless a certificate is read. The root group builds a command only
when it is looked up; its help must stay what an eager registration of every module showed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from vvolguard.cli import main

VVOLD_LOG = """\
2024-03-14T10:02:00.000Z info vvold[2100874] [Originator@6876 sub=Default] Section for VMware ESX, pid=2100874, version=7.0.3, build=20328353, option=Release
2024-03-14T10:02:11.418Z warning vvold[2100874] [Originator@6876 sub=Default]
--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.1.1.10:8084/vasa) [#outstanding 5/5] - waiting
2024-03-14T10:02:12.000Z info vvold[2100874] [Originator@6876 sub=Default] VasaOp::QueryVirtualVolumeInfoInt [#89001]: ===> FINAL SUCCESS queryVirtualVolumeInfo VP (pure-ct0) Container (5c1e0f2a-91d4-3b7e-a0c2-7d3e9b41aa10) timeElapsed=150 msecs (#outstanding 0)
"""  # noqa: E501

#: Top-level packages a diagnose of a vvold.log must not import.
NOT_FOR_DIAGNOSE = ("simpy", "pyVmomi", "asyncssh", "jinja2", "matplotlib", "markdown_it", "cryptography")
#: vvolguard parts a diagnose of a vvold.log must not import.
NOT_FOR_DIAGNOSE_OWN = (
    "vvolguard.sim",
    "vvolguard.drain",
    "vvolguard.escalate",
    "vvolguard.report.html",
    "vvolguard.report.markdown",
    "vvolguard.report.json_schema",
    *(f"vvolguard.cli.{name}" for name in main.COMMAND_MODULES if name != "diagnose"),
)

# Runs the console entry point in a fresh interpreter, then reports what it imported.
_CHILD = """
import gc, json, sys
sys.argv = ["vvolguard", *sys.argv[1:]]
from vvolguard.cli.main import run
try:
    run()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stdout.flush()
report = {"code": code, "modules": sorted(sys.modules), "gc": gc.isenabled()}
sys.stderr.write("\\nMODULES " + json.dumps(report) + "\\n")
"""


def _imports_of(*args: str | Path, cwd: Path | None = None) -> tuple[int, set[str], str]:
    """Exit code, imported modules and stdout of the console entry point run with ``args``."""
    report, stdout = _child_report(*args, cwd=cwd)
    return report["code"], set(report["modules"]), stdout


def _child_report(*args: str | Path, cwd: Path | None = None) -> tuple[dict, str]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    marker = proc.stderr.rindex("\nMODULES ")
    return json.loads(proc.stderr[marker + len("\nMODULES ") :]), proc.stdout


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def test_diagnose_of_a_vvold_log_imports_only_what_it_needs(tmp_path: Path) -> None:
    log = tmp_path / "vvold.log"
    log.write_text(VVOLD_LOG)
    code, modules, stdout = _imports_of("diagnose", log, "--json", "--now", "2024-03-15T00:00:00Z")
    assert code == 0
    assert json.loads(stdout)["schema"] == "vvolguard.diagnosis/v1"  # it really diagnosed
    assert "vvolguard.evidence.vvold" in modules
    assert [m for m in NOT_FOR_DIAGNOSE if _loaded(modules, m)] == []
    assert [m for m in NOT_FOR_DIAGNOSE_OWN if _loaded(modules, m)] == []


def _self_signed_pem(cn: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2026, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_the_collector_is_back_on_once_the_command_runs(tmp_path: Path) -> None:
    """Start-up runs without garbage collection; reading evidence must not (memory stays bounded)."""
    log = tmp_path / "vvold.log"
    log.write_text(VVOLD_LOG)
    report, _ = _child_report("diagnose", log, "--json")
    assert report["code"] == 0
    assert report["gc"] is True


def test_in_process_callers_keep_their_collector() -> None:
    """Only the console entry point turns collection off; CliRunner and library callers do not."""
    import gc

    result = CliRunner().invoke(main.app, ["schema", "diagnosis"])
    assert result.exit_code == 0
    assert gc.isenabled()


def test_a_certificate_still_brings_cryptography_in(tmp_path: Path) -> None:
    """The deferral is to the read, not a loss: given a certificate, it is parsed."""
    cert = tmp_path / "vp.pem"
    cert.write_bytes(_self_signed_pem("vasa.example.test"))
    code, modules, stdout = _imports_of("diagnose", cert, "--json", "--now", "2024-03-15T00:00:00Z")
    assert code == 0
    assert "cryptography" in modules
    assert any(i["kind"] == "certificate" and i["records"] == 1 for i in json.loads(stdout)["inputs"])


@pytest.mark.parametrize("args", [("--help",), ("--version",)])
def test_root_help_and_version_do_not_import_the_analysis_stack(args: tuple[str, ...]) -> None:
    code, modules, _ = _imports_of(*args)
    assert code == 0
    # pydantic and markdown_it are typer's own (option coercion, rich help), not ours to defer.
    heavy = ("polars", *(m for m in NOT_FOR_DIAGNOSE if m != "markdown_it"))
    assert [m for m in heavy if _loaded(modules, m)] == []


class _EagerGroup(TyperGroup):
    """typer's own group, with the same readable value names as the lazy root."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        main.readable_help(self)


def _eager_app() -> typer.Typer:
    """The root as it was built before the lazy group: every module registered up front."""
    app = typer.Typer(
        name="vvolguard",
        help=main.app.info.help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        cls=_EagerGroup,
    )
    app.callback(invoke_without_command=True)(main._root)
    for name in main.COMMAND_MODULES:  # every command module, whoever added it
        __import__(f"vvolguard.cli.{name}", fromlist=["register"]).register(app)
    return app


HELP_CASES = [
    (),
    ("--help",),
    *((name, "--help") for name in main.COMMAND_MODULES),
    ("schema",),
    ("schema", "diagnosis", "--help"),
    ("simulate", "sweep", "--help"),
    ("diagnos",),  # "did you mean 'diagnose'?"
    ("diagnose",),  # missing argument
    ("simulate", "--hosts", "1"),  # out of range
]


@pytest.mark.parametrize("args", HELP_CASES, ids=lambda a: " ".join(a) or "(none)")
def test_lazy_root_shows_what_the_eager_one_showed(args: tuple[str, ...]) -> None:
    runner = CliRunner()
    env = {"COLUMNS": "100"}
    lazy = runner.invoke(main.app, list(args), env=env, prog_name="vvolguard")
    eager = runner.invoke(_eager_app(), list(args), env=env, prog_name="vvolguard")
    assert (lazy.exit_code, lazy.stdout, lazy.stderr) == (eager.exit_code, eager.stdout, eager.stderr)


def test_root_help_lists_every_command_with_its_options() -> None:
    runner = CliRunner()
    root = runner.invoke(main.app, ["--help"], env={"COLUMNS": "200"}, prog_name="vvolguard")
    assert root.exit_code == 0
    for name in ("diagnose", "demo", "escalate", "drain", "limits", "schema", "simulate"):
        assert re.search(rf"^  {name}  ", root.stdout, re.M)
    diagnose = runner.invoke(main.app, ["diagnose", "--help"], env={"COLUMNS": "200"})
    for option in ("--json", "--html", "--markdown", "--fail-on", "--now", "--threshold", "--verbose"):
        assert option in diagnose.stdout
