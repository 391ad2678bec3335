"""The simulator writes what admins paste instead of whole logs (issue #10 C): ``grep -n -B1 -A1``
excerpts (``NNNN:``/``NNNN-`` prefixes, ``--`` separators, ``file:`` labels for rotated files) and
``tail`` cuts that start with orphan ``-->`` lines; diagnosed with the vCenter exports they give
the verdict the whole logs give."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from vvolguard.pipeline import diagnose
from vvolguard.sim import simulate
from vvolguard.sim.evidence.vvold import grep_excerpt, tail_cut, write_excerpts

LOG = (
    b"2024-03-14T10:02:11.418Z warning vvold[1] [Originator@6876 sub=Default]\n"
    b"--> VasaSession::GetFreeConn: No free connections to VP a\n"
    b"2024-03-14T10:02:12.000Z info vvold[1] [Originator@6876 sub=Default] SI::x Empty response\n"
    b"2024-03-14T10:02:13.000Z info vvold[1] [Originator@6876 sub=Default] SI::y Empty response\n"
    b"2024-03-14T10:02:14.000Z info vvold[1] [Originator@6876 sub=Default] SI::z Empty response\n"
    b"2024-03-14T10:02:15.000Z warning vvold[1] [Originator@6876 sub=Default]\n"
    b"--> VasaSession::Send: PROVIDER_BUSY\n"
)


@pytest.mark.skipif(shutil.which("grep") is None, reason="needs grep")
@pytest.mark.parametrize("label", [None, "vvold.log"])
def test_grep_excerpt_is_what_gnu_grep_prints(tmp_path: Path, label: str | None) -> None:
    (tmp_path / "vvold.log").write_bytes(LOG)
    args = ["grep", "-n", "-B1", "-A1", "-E", "GetFreeConn|BUSY", "vvold.log"]
    if label:
        args.insert(1, "-H")
    real = subprocess.run(args, cwd=tmp_path, capture_output=True, check=True).stdout
    assert grep_excerpt(LOG, "GetFreeConn|BUSY", label=label) == real
    assert b"\n--\n" in real


def test_tail_cut_starts_with_an_orphan_continuation() -> None:
    assert tail_cut(LOG).startswith(b"--> VasaSession::GetFreeConn")


@pytest.mark.parametrize(("scenario", "esxi"), [("saturation", 7), ("registration", 8), ("healthy", 7)])
def test_excerpts_give_the_whole_logs_verdict(tmp_path: Path, scenario: str, esxi: int) -> None:
    result = simulate(
        scenario=scenario, hosts=3, vms=24, esxi=esxi, seed=3, out=tmp_path, formats="folder", duration_s=3600
    )
    end = datetime.fromisoformat(result.ground_truth["window"]["end"])
    vcenter = [tmp_path / "vcenter", tmp_path / "certs"]
    whole = diagnose([*sorted(tmp_path.glob("esx-*")), *vcenter], now=end)
    excerpts = write_excerpts(tmp_path)
    grep_files = [p for p in excerpts if p.name.endswith("-grep.txt")]
    tail_files = [p for p in excerpts if p.name.endswith("-tail.txt")]
    assert grep_files and tail_files
    assert any(b"\n--\n" in p.read_bytes() for p in grep_files)
    lives = {p.name.split("-vvold")[0]: p for p in tail_files}
    for bundle in sorted(tmp_path.glob("esx-*")):
        live = (bundle / "var/run/log/vvold.log").read_bytes()
        cut = lives[bundle.name.split("-")[1]].read_bytes()
        assert live.endswith(cut) and (cut.startswith(b"-->") or b"\n-->" not in live)
    from_grep = diagnose([*grep_files, *vcenter], now=end)
    assert from_grep.verdict.cls == whole.verdict.cls, from_grep.verdict.summary
    assert not [w for w in from_grep.warnings if "unknown format" in w.message]
    kinds = {i.file.rsplit("/", 1)[-1]: i.kind for i in from_grep.inputs}
    assert all(kinds[p.name] == "vvold-log" for p in grep_files)
    rotated = list(tmp_path.glob("esx-*/var/run/log/vvold.*.gz"))
    if not rotated:  # the live logs hold everything: their tail cuts must say the same
        from_tail = diagnose([*tail_files, *vcenter], now=end)
        assert from_tail.verdict.cls == whole.verdict.cls, from_tail.verdict.summary
