"""Seeded random damage to simulator evidence, diagnosed as a user would (issue #10, done-when).

The simulator writes evidence shaped like a real incident (bundles as folders and ``.tgz``,
esxcli text and JSON, vCenter exports, a certificate). Each case keeps one saturated host's
bundle intact and damages a random choice of the other files in a random way: flipped bytes,
a damaged gzip/tgz, truncation, a giant line, UTF-16 or latin-1, two files spliced together.
Whatever the damage: no exit 3, no traceback, no hang, and the intact bundle's finding is still
there. Seeded, so a failure names the seed that reproduces it.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import vvolguard
from vvolguard.cli.main import app

#: More with VVOLGUARD_FUZZ_SEEDS=500 (a longer hunt; the default keeps the suite quick).
SEEDS = range(int(os.environ.get("VVOLGUARD_FUZZ_SEEDS", "10")))


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("incident") / "case"
    vvolguard.simulate(scenario="saturation", hosts=2, vms=12, esxi=7, seed=3, out=out, formats="both")
    return out


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    raw = bytearray(data)
    for _ in range(rng.randint(1, 40)):
        if raw:
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    return bytes(raw)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(max(1, len(data)))]


def damage_gzip(data: bytes, rng: random.Random) -> bytes:
    packed = data if data[:2] == b"\x1f\x8b" else gzip.compress(data)
    raw = bytearray(packed)
    how = rng.choice(("flip", "cut", "crc", "second-member"))
    if how == "flip" and len(raw) > 30:
        for _ in range(rng.randint(1, 5)):
            raw[rng.randrange(10, len(raw) - 8)] ^= 0xFF
    elif how == "cut":
        raw = raw[: rng.randrange(10, max(11, len(raw)))]
    elif how == "crc":
        raw[-8] ^= 0xFF
    else:
        second = bytearray(gzip.compress(data[: len(data) // 2]))
        second[len(second) // 2] ^= 0xFF
        raw += second
    return bytes(raw)


def giant_line(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(max(1, len(data)))
    filler = bytes([rng.choice(b"Ax ,{[\x00")]) * rng.choice((5, 6)) * 1024 * 1024
    return data[:at] + filler + data[at:]


def utf16(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", "replace")
    if rng.random() < 0.5:
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    return text.encode("utf-16-be")


def latin1(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", "replace")
    out = bytearray(text.encode("latin-1", "replace"))
    for _ in range(rng.randint(1, 20)):
        out.insert(rng.randrange(len(out) + 1), rng.choice(b"\xe9\xfc\xa0\xff"))
    return bytes(out)


Mutation = Callable[[bytes, random.Random], bytes]
MUTATIONS: tuple[Mutation, ...] = (flip_bytes, truncate, damage_gzip, giant_line, utf16, latin1)


def damaged_case(incident: Path, target: Path, seed: int) -> list[Path]:
    """The intact host's bundle plus damaged copies of a random choice of the other files."""
    rng = random.Random(seed)
    shutil.copytree(incident, target)
    good = sorted((target / "archives").glob("esx-esx01*.tgz"))
    others = [
        p
        for p in sorted(target.rglob("*"))
        if p.is_file() and "esx01" not in str(p) and p.name != "ground-truth.json"
    ]
    victims = rng.sample(others, k=min(len(others), rng.randint(2, 6)))
    for victim in victims:
        data = victim.read_bytes()
        if rng.random() < 0.2:  # spliced: the head of this file, the tail of another
            other = rng.choice(others).read_bytes()
            data = data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]
        mutation = rng.choice(MUTATIONS)
        victim.write_bytes(mutation(data, rng))
    for path in others:
        if path not in victims and rng.random() < 0.5:
            path.unlink()  # the intact one is not always in company
    return [*good, *(p for p in sorted(target.iterdir()) if p.name != "archives"), target / "archives"]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("seed", SEEDS)
def test_damaged_evidence_never_breaks_diagnose(incident: Path, tmp_path: Path, seed: int) -> None:
    paths = [p for p in damaged_case(incident, tmp_path / "case", seed) if p.exists()]
    result = CliRunner().invoke(app, ["diagnose", *map(str, paths), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"seed {seed}: {result.exception!r}"
    )
    assert result.exit_code in (0, 1, 2), f"seed {seed}: exit {result.exit_code}: {result.output[-2000:]}"
    assert "Traceback" not in result.output
    document = json.loads(result.stdout)
    # Damage may add findings (a flipped "Accessible: true" is a PE problem as far as anyone can
    # tell), but the intact bundle's saturation must still be found, from that bundle.
    saturation = [f for f in document["findings"] if f["id"] == "provider-saturation"]
    assert saturation, f"seed {seed}: {[f['id'] for f in document['findings']]}"
    cited = {c["file"] for f in saturation for c in f["citations"]}
    assert any("esx-esx01" in c for c in cited), f"seed {seed}: the intact bundle must still be used"


@pytest.mark.timeout(180)
def test_all_damage_at_once_through_the_console_entry_point(incident: Path, tmp_path: Path) -> None:
    """One run as the user runs it (a process, stderr checked), with every mutation applied."""
    case = tmp_path / "case"
    shutil.copytree(incident, case)
    rng = random.Random(99)
    victims = [p for p in sorted(case.rglob("*")) if p.is_file() and "esx01" not in str(p)]
    for index, victim in enumerate(victims):
        victim.write_bytes(MUTATIONS[index % len(MUTATIONS)](victim.read_bytes(), rng))
    proc = subprocess.run(
        [sys.executable, "-m", "vvolguard.cli.main", "diagnose", str(case), "--json"],
        capture_output=True,
        text=True,
        timeout=170,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    document = json.loads(proc.stdout)
    assert any(f["id"] == "provider-saturation" for f in document["findings"])
    assert document["warnings"], "the damage is reported"
