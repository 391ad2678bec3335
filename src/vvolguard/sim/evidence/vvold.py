"""vvold.log in both ESXi shapes, with the daemon's vocabulary and ESXi's rotation.

Two layers, so a fixture can use either:

1. **Message builders** (``msg_*``) return the message text of one vvold event, worded as in
   docs/evidence-formats.md §1.6 (verbatim shapes: ``Issuing``, ``FINAL SUCCESS``, ``DoSetContext``,
   ``GetEndPoint``) and §1.7 (reconstructed shapes: ``GetFreeConn``, ``FINAL FAILURE`` with a
   fault code). They are shape-independent.
2. **Line formatting** (:func:`format_record`) frames a :class:`VvoldRecord` in one of the two
   line shapes:

   * ``esxi7`` (6.7/7.0, §1.2): ``<ts> <level> vvold[<pid>] [Originator@6876 sub=Default]``.
     ``VasaOp``/``VasaSession`` messages go on a ``--> `` continuation under a header with an empty
     message, exactly as the Pure Storage 2019 sample shows; other messages sit on the header
     line itself.
   * ``esxi8`` (8.0, §1.3): ``<ts> In(166) VVold[<pid>]: [Originator@6876 sub=Default OpId=<id>]
     <msg>``, one line per event, ``Er(163)`` for errors (KB 412434), ``Wa(164)`` for warnings.
     Extra lines of a multi-line message repeat the header with the ABNF's ``+`` line marker and a
     ``--> `` prefix (the reconstructed style of §1.3).

3. **Rotation** (:class:`RotatingLog`): ESXi's logger rotates at 1024 KiB through 8 generations
   named ``vvold.0.gz`` (newest) … ``vvold.7.gz`` (§1.1). Every file opens with the
   ``Section for VMware ESX`` header line, which has no app or pid in the esxi7 shape (the real
   6.7 line is ``<ts> - time the service was last started, Section for VMware ESX, pid=…``; the
   7.0.3 line adds ``last log rotation time``). Rotated files are real gzip members whose mtime
   is the rotation time, so the output is deterministic.
"""

from __future__ import annotations

import gzip
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

Shape = Literal["esxi7", "esxi8"]
SHAPES: tuple[Shape, ...] = ("esxi7", "esxi8")

#: ESXi version and build written in the header line of each shape (real public builds: 7.0.3
#: from the dissect.target test header, 8.0.3 from the 8.0.3 hostd header in §1.1).
ESXI_BUILDS: dict[str, tuple[str, str]] = {
    "esxi7": ("7.0.3", "20328353"),
    "esxi8": ("8.0.3", "24677879"),
}

#: ESXi rotates a log at 1024 KiB (§1.1).
ROTATE_BYTES = 1024 * 1024
#: ... and keeps 8 generations (§1.1).
GENERATIONS = 8

#: Syslog severity strings of the ESXi 8 ABNF; facility local4 (PRI 160-167) as vvold uses.
_ESXI8_LEVEL = {"error": "Er(163)", "warning": "Wa(164)", "info": "In(166)", "verbose": "Db(167)"}

#: The vvold C++ function that issues each VASA operation (``VasaOp::<Func>``), after the Pure
#: sample's ``QueryVirtualVolumeInt`` and ``EventPollerCB``.
OP_FUNCTIONS: dict[str, str] = {
    "createVirtualVolume": "CreateVirtualVolumeInt",
    "bindVirtualVolume": "BindVirtualVolumeInt",
    "unbindVirtualVolume": "UnbindVirtualVolumeInt",
    "deleteVirtualVolume": "DeleteVirtualVolumeInt",
    "queryVirtualVolume": "QueryVirtualVolumeInt",
    "queryVirtualVolumeInfo": "QueryVirtualVolumeInfoInt",
    "getEvents": "EventPollerCB",
    "getAlarms": "AlarmPollerCB",
    "setContext": "SetContextInt",
    "cloneVirtualVolume": "CloneVirtualVolumeInt",
    "snapshotVirtualVolume": "SnapshotVirtualVolumeInt",
}


def op_function(op: str) -> str:
    """``VasaOp::<this>`` for a VASA operation name."""
    return OP_FUNCTIONS.get(op, op[:1].upper() + op[1:] + "Int")


def format_ts(ts: datetime) -> str:
    """``2024-03-14T10:02:11.418Z``: UTC with milliseconds, as every ESXi log writes it."""
    # the same text as strftime("%Y-%m-%dT%H:%M:%S."), several times faster (an estate writes
    # millions of lines)
    return (
        f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}T{ts.hour:02d}:{ts.minute:02d}:{ts.second:02d}."
        f"{ts.microsecond // 1000:03d}Z"
    )


# --------------------------------------------------------------------------------------------
# Message builders (shape-independent)
# --------------------------------------------------------------------------------------------


def msg_issue(opseq: int, op: str, vp: str, outstanding: int, ceiling: int, state: str = "Connected") -> str:
    """[VERBATIM shape, Pure KB] ``VasaOp::<Func> [#n]: ===> Issuing '<op>' to VP ...``."""
    return (
        f"VasaOp::{op_function(op)} [#{opseq}]: ===> Issuing '{op}' to VP {vp} "
        f"(#outstanding {outstanding}/{ceiling}) [session state: {state}]"
    )


def msg_final_success(
    opseq: int, op: str, vp: str, container: str, elapsed_ms: int, outstanding: int, func: str | None = None
) -> str:
    """[VERBATIM shape, Pure KB] ``===> FINAL SUCCESS <op> VP (<vp>) Container (<uuid>) ...``."""
    return (
        f"VasaOp::{func or op_function(op)} [#{opseq}]: ===> FINAL SUCCESS {op} VP ({vp}) "
        f"Container ({container}) timeElapsed={elapsed_ms} msecs (#outstanding {outstanding})"
    )


def msg_final_failure(
    opseq: int,
    op: str,
    code: str,
    detail: str,
    vp: str,
    container: str,
    elapsed_ms: int,
    outstanding: int,
    func: str = "ThrowFromSessionError",
) -> str:
    """[RECONSTRUCTED, §1.7] ``===> FINAL FAILURE <op>, error (<CODE> / <detail>) VP (...) ...``.

    The call site defaults to ``ThrowFromSessionError``, the function that logs the outcome in
    the Pure sample.
    """
    return (
        f"VasaOp::{func} [#{opseq}]: ===> FINAL FAILURE {op}, error ({code} / {detail}) VP ({vp}) "
        f"Container ({container}) timeElapsed={elapsed_ms} msecs (#outstanding {outstanding})"
    )


def msg_no_free_conn(vp: str, url: str, outstanding: int, ceiling: int) -> str:
    """[RECONSTRUCTED, §1.7] the KB 318662 connection-exhaustion line."""
    return (
        f"VasaSession::GetFreeConn: No free connections to VP {vp} (url: {url}) "
        f"[#outstanding {outstanding}/{ceiling}] - waiting"
    )


def msg_retry(
    opseq: int, op: str, code: str, delay_ms: int, attempt: int, attempts: int, vp: str | None = None
) -> str:
    """[RECONSTRUCTED] a transient fault that vvold retries (the runbook's "bind retries")."""
    target = f" to VP {vp}" if vp else ""
    return (
        f"VasaOp::{op_function(op)} [#{opseq}]: {op}{target} failed with transient error {code}, "
        f"retrying in {delay_ms} msecs (attempt {attempt}/{attempts})"
    )


def msg_setcontext_failure(vp: str, url: str, state: str, code: str, detail: str) -> str:
    """[VERBATIM shape, KB 412434] ``VasaSession::DoSetContext: setContext for VP ... failed``."""
    return (
        f"VasaSession::DoSetContext: setContext for VP {vp} (url: {url}) failed "
        f"[connectionState: {state}]: {code} ({detail})"
    )


def msg_setcontext_success(vp: str, url: str, session_id: str) -> str:
    """[RECONSTRUCTED] a successful setContext (new VASA session)."""
    return f"VasaSession::DoSetContext: setContext for VP {vp} (url: {url}) succeeded, sessionId {session_id}"


def msg_get_endpoint_failure() -> str:
    """[VERBATIM, aakittel/ESXinfo] the SSL failure vvold logs when it cannot reach the VP."""
    return "VasaSession::GetEndPoint: failed to get endpoint, err=SSL Exception"


def msg_query_empty() -> str:
    """[VERBATIM, Pure KB]."""
    return "SI::QueryVirtualVolumeInt Empty response"


#: The detail text of ``TRANSPORT_FAULT`` in KB 412434 [VERBATIM].
SSL_CONNECT_DETAIL = "Timeout / SSL_connect() failed in tcp_connect()"


# --------------------------------------------------------------------------------------------
# Records and line framing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VvoldRecord:
    """One logical vvold log event: a message, and optional further lines of the same event.

    ``opid`` is the ESXi 8 ``OpId=`` value (``Session`` for session work in KB 412434, the
    vCenter operation id for work done for a migration); the esxi7 shape does not print it.
    ``inline`` puts the message on the header line in the esxi7 shape instead of a ``-->``
    continuation (vvold does both; ``SI::`` lines are inline in the Pure sample).
    """

    ts: datetime
    level: str  # info | warning | error | verbose
    message: str
    more: tuple[str, ...] = ()
    opid: str | None = None
    inline: bool = False


def format_record(shape: Shape, record: VvoldRecord, pid: int) -> str:
    """The text of one record in ``shape``, ending with a newline."""
    ts = format_ts(record.ts)
    if shape == "esxi7":
        head = f"{ts} {record.level} vvold[{pid}] [Originator@6876 sub=Default]"
        out = [f"{head} {record.message}"] if record.inline else [head, f"--> {record.message}"]
        out.extend(f"--> {extra}" for extra in record.more)
        return "\n".join(out) + "\n"
    level = _ESXI8_LEVEL.get(record.level, "In(166)")
    meta = "[Originator@6876 sub=Default" + (f" OpId={record.opid}]" if record.opid else "]")
    out = [f"{ts} {level} VVold[{pid}]: {meta} {record.message}"]
    out.extend(f"{ts} {level}+ VVold[{pid}]: --> {extra}" for extra in record.more)
    return "\n".join(out) + "\n"


def header_line(
    shape: Shape, ts: datetime, started: datetime, pid: int, rotated: bool, app: str = "VVold"
) -> str:
    """The ``Section for VMware ESX`` line that opens a fresh or rotated log (§1.1).

    ``app`` is the ESXi 8 app name (``VVold``, ``Hostd``); the esxi7 shape has none."""
    version, build = ESXI_BUILDS[shape]
    section = f"Section for VMware ESX, pid={pid}, version={version}, build={build}, option=Release"
    started_at = f"time the service was last started {format_ts(started)}, {section}"
    body = f"last log rotation time, {format_ts(ts)} - {started_at}" if rotated else started_at
    if shape == "esxi7":
        return f"{format_ts(ts)} - {body}\n"
    return f"{format_ts(ts)} In(166) {app}[{pid}]: - {body}\n"


# --------------------------------------------------------------------------------------------
# Rotation
# --------------------------------------------------------------------------------------------


class RotatingLog:
    """An in-memory ESXi log that rotates like the real one.

    ``write`` appends one formatted record; when the live file would pass ``limit`` bytes it is
    gzipped to ``<name>.0.gz`` (older generations shift up, past ``generations`` they are
    dropped) and a new live file starts with a rotation header. ``files`` returns every file by
    name. Memory is bounded by ``limit × (generations + 1)`` uncompressed at worst.
    """

    def __init__(
        self,
        name: str,
        shape: Shape,
        pid: int,
        started: datetime,
        limit: int = ROTATE_BYTES,
        generations: int = GENERATIONS,
        header: bool = True,
        app: str = "VVold",
    ) -> None:
        self.app = app
        self.name = name
        self.shape = shape
        self.pid = pid
        self.started = started
        self.limit = limit
        self.rotated: deque[bytes] = deque(maxlen=generations)
        self._live: list[bytes] = []
        self._size = 0
        self._header = header
        self._opened = False
        self.rotations = 0

    def _open(self, ts: datetime, rotated: bool) -> None:
        self._opened = True
        if self._header:
            line = header_line(self.shape, ts, self.started, self.pid, rotated, self.app).encode()
            self._live.append(line)
            self._size += len(line)

    def write(self, ts: datetime, text: str) -> None:
        """Append ``text`` (one or more whole lines) logged at ``ts``."""
        data = text.encode("utf-8")
        if not self._opened:
            self._open(ts, rotated=False)
        elif self._size + len(data) > self.limit and self._size > 0:
            self._rotate(ts)
        self._live.append(data)
        self._size += len(data)

    def _rotate(self, ts: datetime) -> None:
        payload = b"".join(self._live)
        self.rotated.appendleft(gzip.compress(payload, compresslevel=6, mtime=int(ts.timestamp())))
        self.rotations += 1
        self._live = []
        self._size = 0
        self._open(ts, rotated=True)

    @property
    def live_size(self) -> int:
        return self._size

    def live_bytes(self) -> bytes:
        return b"".join(self._live)

    def files(self) -> dict[str, bytes]:
        """``{"vvold.log": ..., "vvold.0.gz": ..., ...}`` (only generations that exist)."""
        out = {f"{self.name}.log": self.live_bytes()}
        for index, blob in enumerate(self.rotated):
            out[f"{self.name}.{index}.gz"] = blob
        return out


def write_vvold_log(
    records: Iterable[VvoldRecord],
    shape: Shape,
    pid: int,
    started: datetime,
    limit: int = ROTATE_BYTES,
) -> dict[str, bytes]:
    """Format ``records`` (in time order) into ``vvold.log`` plus its rotations.

    The convenience entry point for fixtures: ``write_vvold_log([...], "esxi8", 2255518, t0)``.
    """
    log = RotatingLog("vvold", shape, pid, started, limit=limit)
    for record in records:
        log.write(record.ts, format_record(shape, record, pid))
    return log.files()


# --------------------------------------------------------------------------------------------
# Admin shapes: what an admin pastes instead of the whole log (issue #10 C)
# --------------------------------------------------------------------------------------------

#: What an admin greps for, after the runbook: the KB 318662 and KB 412434 signals, and the swap
#: vVol creations whose latency the KB names.
RUNBOOK_GREP = (
    r"GetFreeConn|[Nn]o free conn|BUSY|FINAL FAILURE|FINAL SUCCESS createVirtualVolume|DoSetContext|"
    r"TRANSPORT_FAULT|SSL|TIMEOUT|TimedOut|Section for VMware"
)


def grep_excerpt(
    data: bytes, pattern: str = RUNBOOK_GREP, before: int = 1, after: int = 1, label: str | None = None
) -> bytes:
    """``grep -n -B<before> -A<after> -E <pattern>`` of ``data``, as GNU grep prints it: matching
    lines ``NNNN:line``, context lines ``NNNN-line``, ``--`` between groups that do not touch;
    with ``label`` (``grep -H``), ``label:NNNN:`` and ``label-NNNN-``."""
    import re

    rx = re.compile(pattern)
    lines = data.decode("utf-8", "replace").splitlines()
    shown: dict[int, bool] = {}  # line index -> matched (else context)
    for i, line in enumerate(lines):
        if rx.search(line):
            for j in range(max(0, i - before), min(len(lines), i + after + 1)):
                shown[j] = shown.get(j, False) or j == i
    out: list[str] = []
    previous: int | None = None
    for i in sorted(shown):
        if previous is not None and i != previous + 1:
            out.append("--")
        sep = ":" if shown[i] else "-"
        out.append(f"{label}{sep}{i + 1}{sep}{lines[i]}" if label else f"{i + 1}{sep}{lines[i]}")
        previous = i
    return ("\n".join(out) + "\n").encode() if out else b""


def tail_cut(data: bytes) -> bytes:
    """``tail -n +K`` of a log, K chosen so the cut starts on ``-->`` continuation lines whose
    header was cut off (the first continuation after the first line); the whole log when it
    has none."""
    lines = data.splitlines(keepends=True)
    for i, line in enumerate(lines[1:], start=1):
        if line.lstrip().startswith(b"-->") or b"]: -->" in line[:120]:
            return b"".join(lines[i:])
    return data


def host_excerpts(logs: dict[str, bytes]) -> tuple[bytes, bytes]:
    """What an admin pastes instead of one host's vvold logs (``logs``: file name -> bytes, the
    live ``vvold.log`` and its rotated ``vvold.N.gz``): a ``grep -n -B1 -A1`` excerpt of each,
    rotated ones through ``zgrep``'s ``file:`` label, and a ``tail`` cut of the live log."""
    rotated = sorted(
        (name for name in logs if name.startswith("vvold.") and name.endswith(".gz")),
        key=lambda name: -int(name.split(".")[1]),
    )
    parts = [grep_excerpt(gzip.decompress(logs[name]), label=name) for name in rotated]
    live = logs.get("vvold.log", b"")
    parts.append(grep_excerpt(live, label="vvold.log" if parts else None))
    return b"--\n".join(p for p in parts if p), tail_cut(live)


def write_excerpts(out: Path) -> list[Path]:
    """For every simulated bundle folder under ``out``, write :func:`host_excerpts` of its vvold
    logs under ``out/excerpts/``. Diagnosed with the vCenter exports, they must give the verdict
    the whole logs give."""
    written: list[Path] = []
    target = out / "excerpts"
    for bundle_dir in sorted(p for p in out.glob("esx-*") if p.is_dir()):
        host = bundle_dir.name.split("-")[1]
        logs = bundle_dir / "var" / "run" / "log"
        grep, tail = host_excerpts({p.name: p.read_bytes() for p in logs.glob("vvold.*")})
        target.mkdir(parents=True, exist_ok=True)
        grep_path = target / f"{host}-vvold-grep.txt"
        grep_path.write_bytes(grep)
        tail_path = target / f"{host}-vvold-tail.txt"
        tail_path.write_bytes(tail)
        written += [grep_path, tail_path]
    return written
