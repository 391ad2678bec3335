"""The library surface: ``vvolguard.diagnose`` says its options, and what it returns can be named.

Why: a library user reads the signature (IDE, ``help()``, a type checker) and must not have to
open ``pipeline.py`` to learn that ``tz`` or ``limits`` exist; and the root package stays cheap to
import, because every CLI command imports it first.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import vvolguard
from vvolguard import pipeline

VVOLD_LOG = (
    "2024-03-14T10:02:00.000Z info vvold[2100874] [Originator@6876 sub=Default] Section for VMware ESX,"
    " pid=2100874, version=7.0.3, build=20328353, option=Release\n"
)


def test_diagnose_has_the_pipeline_signature() -> None:
    public = inspect.signature(vvolguard.diagnose)
    real = inspect.signature(pipeline.diagnose)
    assert list(public.parameters) == list(real.parameters)
    assert not any(p.kind is p.VAR_KEYWORD for p in public.parameters.values())
    for name, param in public.parameters.items():
        assert param.default == real.parameters[name].default, name
        assert param.annotation == real.parameters[name].annotation, name
    assert public.return_annotation == real.return_annotation


def test_every_public_name_resolves_to_its_definition() -> None:
    for name in vvolguard.__all__:
        value = getattr(vvolguard, name)
        assert value is not None, name
    assert vvolguard.Diagnosis.__module__ == "vvolguard.analysis.model"
    assert vvolguard.Thresholds.__module__ == "vvolguard.analysis.thresholds"
    assert set(vvolguard.__all__) <= set(dir(vvolguard))


def test_options_reach_the_pipeline(tmp_path: Path) -> None:
    log = tmp_path / "vvold.log"
    log.write_text(VVOLD_LOG)
    seen: list[str] = []
    now = datetime(2024, 3, 15, tzinfo=UTC)
    result = vvolguard.diagnose(
        log,
        now=now,
        thresholds=vvolguard.Thresholds(),
        on_file=lambda ef: seen.append(ef.display),
        tz="+02:00",
        limits=vvolguard.Limits(),
    )
    assert isinstance(result, vvolguard.Diagnosis)
    assert result.now == now
    assert len(seen) == 1 and seen[0].endswith("vvold.log")


def test_root_import_stays_lazy_and_unknown_names_fail() -> None:
    code = (
        "import sys, vvolguard\n"
        "assert 'vvolguard.analysis' not in sys.modules, sorted(m for m in sys.modules if 'vvolguard' in m)\n"
        "assert 'vvolguard.pipeline' not in sys.modules\n"
        "try:\n    vvolguard.NoSuchThing\nexcept AttributeError:\n    pass\n"
        "else:\n    raise SystemExit('no AttributeError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_package_ships_py_typed() -> None:
    assert files("vvolguard").joinpath("py.typed").is_file()
