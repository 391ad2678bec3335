"""The vvold reader's fast paths must read exactly what its general routes read.

The block parse takes shortcuts for the lines that make up most of a busy log (one strict regex
per Issuing / FINAL SUCCESS row, run in row order, with the few rows it misses routed on their
own and scattered back into place; the full header grammar only on rows whose tokens gave no
pid). The first test reads one log twice, once as the reader does and once with the strict
shapes made impossible (every row then takes the tolerant, field-by-field route the strict
shapes stand in for), and the frames must be equal; the logs mix rows each shortcut takes with rows it
must leave, so a shortcut that drops, misreads or misplaces a row fails.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from vvolguard.evidence import vvold_block
from vvolguard.evidence.source import from_bytes
from vvolguard.evidence.vvold import VvoldReader
from vvolguard.records import VasaFrame
from vvolguard.sim.evidence import vvold as sv

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CONTAINER = "b487b73a-6128-3ad2-873b-8ddb1ba45d4f"

#: Spellings that have a fast path's literal but not its strict shape (tolerant route), or no
#: fast path at all (generic route), as they come in real pastes.
ODD = (
    "VasaOp::Dé ' to VP decoy [#7]: ===> Issuing 'getEvents' to VP pure-ct0 (#outstanding 2)",
    "VasaOp::X [#8]: ===> Issuing 'bindVirtualVolume' to VP pure-ct1 (#outstanding  3/5)",
    "VasaOp::X [# 9]: ===> FINAL SUCCESS unbindVirtualVolume VP (pure-ct0) Container () "
    "timeElapsed=12 msecs (#outstanding 1)",
    "VasaOp::X [#10]: ===> FINAL SUCCESS createVirtualVolume VP (pure-ct0) timeElapsed=40100 msecs",
    "VasaOp::X [x] [#11]: ===> Issuing 'queryVirtualVolume' to VP ((odd) (#outstanding 0/5)",
    sv.msg_no_free_conn("pure-ct0", "https://10.1.1.10:8084/vasa", 5, 5),
    sv.msg_final_failure(
        12, "createVirtualVolume", "TIMEOUT", "Operation timed out", "pure-ct0", CONTAINER, 60012, 5
    ),
    sv.msg_retry(13, "bindVirtualVolume", "PROVIDER_BUSY", 500, 1, 5, vp="pure-ct1"),
    sv.msg_setcontext_failure(
        "pure-ct1", "https://10.1.1.11:8084/vasa", "TransportError", "TRANSPORT_FAULT", sv.SSL_CONNECT_DETAIL
    ),
)


def _log(shape: sv.Shape, seed: int, records: int = 600) -> bytes:
    """A log of ``shape`` where most records are Issuing / FINAL SUCCESS traces (the fast
    paths' rows) with odd spellings and other vvold lines strewn among them."""
    rng = random.Random(seed)
    out = [sv.header_line(shape, T0, T0, 2099041, rotated=False)]
    for n in range(records):
        ts = T0 + timedelta(milliseconds=37 * n)
        seq = 89000 + n
        vp = rng.choice(("pure-ct0", "pure-ct1", "nimble-grp1"))
        pick = rng.random()
        if pick < 0.45:
            message = sv.msg_issue(
                seq, rng.choice(("getEvents", "bindVirtualVolume")), vp, rng.randint(0, 5), 5
            )
        elif pick < 0.9:
            message = sv.msg_final_success(
                seq, "createVirtualVolume", vp, CONTAINER, rng.randint(5, 40000), 2
            )
        else:
            message = rng.choice(ODD)
        level = rng.choice(("info", "error", "warning"))
        out.append(sv.format_record(shape, sv.VvoldRecord(ts, level, message, opid=f"opId-{seq}"), 2099041))
    return "".join(out).encode()


def _frame(data: bytes) -> pl.DataFrame:
    records = VvoldReader().read(from_bytes("vvold.log", data, host="esx01"))
    frames = [r.frame for r in records if isinstance(r, VasaFrame)]
    return pl.concat(frames)


def _strict_never_matches() -> tuple:
    """The fast paths with strict shapes that can never match (same groups, one impossible
    character more), so every row they would take goes the tolerant way instead."""
    return tuple(
        (literal, strict + r"[^\s\S]", fields, kind)
        for literal, strict, fields, kind in vvold_block.FAST_PATHS
    )


@pytest.mark.parametrize("shape", sv.SHAPES)
@pytest.mark.parametrize("seed", [1, 2])
def test_fast_paths_read_what_the_general_routes_read(
    monkeypatch: pytest.MonkeyPatch, shape: sv.Shape, seed: int
) -> None:
    data = _log(shape, seed)
    fast = _frame(data)
    monkeypatch.setattr(vvold_block, "FAST_PATHS", _strict_never_matches())
    general = _frame(data)
    assert fast.height > 500
    # both routes had rows to read, the fast paths most of them
    kinds = fast.get_column("kind").value_counts()
    assert {"issue", "success", "failure", "no-free-conn"} <= set(kinds.get_column("kind").to_list())
    assert fast.get_column("line").is_sorted()
    assert fast.equals(general)


def test_misses_of_the_fast_paths_land_on_their_own_lines() -> None:
    """Rows the strict shapes miss are routed apart and scattered back: each must carry its own
    fields on its own line, between the fast rows around it."""
    lines = [
        sv.format_record(
            "esxi8", sv.VvoldRecord(T0, "info", sv.msg_issue(1, "getEvents", "pure-ct0", 0, 5)), 7
        ),
        sv.format_record("esxi8", sv.VvoldRecord(T0, "info", ODD[0]), 7),
        sv.format_record(
            "esxi8",
            sv.VvoldRecord(T0, "info", sv.msg_final_success(1, "getEvents", "pure-ct0", CONTAINER, 20, 0)),
            7,
        ),
        sv.format_record("esxi8", sv.VvoldRecord(T0, "warning", ODD[5]), 7),
    ]
    frame = _frame("".join(lines).encode())
    got = frame.select("line", "kind", "opseq", "vp", "outstanding", "elapsed_ms").rows()
    assert got == [
        (1, "issue", 1, "pure-ct0", 0, None),
        (2, "issue", 7, "pure-ct0", 2, None),
        (3, "success", 1, "pure-ct0", 0, 20),
        (4, "no-free-conn", None, "pure-ct0", 5, None),
    ]


def test_the_header_grammar_names_forwarded_hosts_only_on_their_lines() -> None:
    """The full header grammar runs only where the tokens gave no pid (a 7.0 section header, a
    syslog-forwarded line): the forwarded line names its sender, the native lines around it keep
    the file's host and their own pid, in one block."""
    meta = "[Originator@6876 sub=Default]"
    data = (
        "2025-03-01T08:00:00.000Z - time the service was last started 2025-03-01T08:00:00.000Z, Section for "
        "VMware ESX, pid=2099041, version=7.0.3, build=20328353, option=Release\n"
        f"2025-03-01T08:00:01.000Z info vvold[2099041] {meta}\n"
        f"--> {sv.msg_issue(1, 'getEvents', 'pure-ct0', 0, 5)}\n"
        f"<166>2025-03-01T08:00:02.000Z esx07.lab Vvold: warning vvold[31] {meta} {ODD[5]}\n"
        f"2025-03-01T08:00:03.000Z error vvold[2099041] {meta} {ODD[6]}\n"
    ).encode()
    frame = _frame(data)
    got = frame.select("line", "host", "pid", "level", "kind").rows()
    assert got == [
        (1, "esx01", 2099041, None, "service-start"),
        (3, "esx01", 2099041, "info", "issue"),
        (4, "esx07.lab", 31, "warning", "no-free-conn"),
        (5, "esx01", 2099041, "error", "failure"),
    ]


def _framed(line: str, framing: str, n: int) -> str:
    """One line of a log as another tool wrote it: a central syslog server (§8: ``host App:``
    after the time, maybe a ``<PRI>`` or a relay's BSD header before it), or grep (§1.4)."""
    if framing == "native":
        return line
    if framing == "grep -Hn":
        mark = ":" if line[:1].isdigit() else "-"  # a context line of grep -C has dashes
        return f"/scratch/log/vvold.log{mark}{n}{mark}{line}"
    if not line[:1].isdigit():  # a continuation: the syslog server keeps it as it came
        return line
    time, rest = line.split(" ", 1)
    host = ("esx01.lab", "esx02.lab")[n // 3 % 2]
    forwarded = f"{time} {host} Vvold: {rest}"
    if framing == "forwarded":
        return forwarded
    if framing == "forwarded <PRI>":
        return f"<166>{forwarded}"
    # a relay in front of the syslog server: its own BSD time and address first
    return f"Mar  1 08:00:{n % 60:02d} 10.100.101.102 {forwarded}"


ODD_HEADS = (
    # fit no token route: the grammar must read them as before
    "2025-03-01T08:00:09.000Z esx03.lab  Vvold: info vvold[5] [Originator@6876] x",  # two spaces
    "2025-03-01T08:00:09.000Z esx[3] Vvold: info vvold[5] [Originator@6876] x",  # brackets in host
    "2025-03-01T08:00:09.000Z esx03.lab Vvold info vvold[5] [Originator@6876] x",  # tag without colon
    "2025-03-01T08:00:09.000Z esx03.lab Vvold: notice vvold[5] [Originator@6876] x",  # not a level
    "2025-03-01T08:00:09.000Z esx03.lab Vvold: info 9vvold[5] [Originator@6876] x",  # not an app
    "2025-03-01T08:00:09.000Z\tesx03.lab Vvold: info vvold[5] [Originator@6876] x",  # a tab
    "2025-03-01T08:00:09.000Z\tjunk esx03.lab Vvold: info vvold[5] [Originator@6876] x",  # tab, 6 words
)


@pytest.mark.parametrize("framing", ["forwarded", "forwarded <PRI>", "relayed", "grep -Hn"])
@pytest.mark.parametrize("shape", sv.SHAPES)
def test_forwarded_headers_read_as_the_grammar_reads_them(
    monkeypatch: pytest.MonkeyPatch, framing: str, shape: sv.Shape
) -> None:
    """The token route for forwarded headers (:func:`vvold_block._forwarded_header_fields`) must
    give each row the level, pid and sending host the header grammar gives it, and leave every
    row it cannot read exactly to the grammar."""
    lines = _log(shape, 3, records=300).decode().splitlines()
    odd = [f"--> {ODD[5]}" if shape == "esxi7" else "" for _ in ODD_HEADS]
    lines[5:5] = [part for head, cont in zip(ODD_HEADS, odd, strict=True) for part in (head, cont) if part]
    data = "".join(_framed(line, framing, n) + "\n" for n, line in enumerate(lines, 1)).encode()
    fast = _frame(data)
    monkeypatch.setattr(vvold_block, "_forwarded_header_fields", lambda work: work)
    general = _frame(data)
    assert fast.height > 250
    if framing != "grep -Hn":
        assert {"esx01.lab", "esx02.lab"} <= set(fast.get_column("host").to_list())
    assert fast.get_column("pid").null_count() < fast.height
    assert fast.equals(general)
