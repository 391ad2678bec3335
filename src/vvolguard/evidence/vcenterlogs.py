"""vCenter's own logs: ``sps.log`` (the Storage Monitoring Service's view of every VASA provider)
and ``vpxd.log`` (the task lifecycle), from a ``vc-support`` bundle or copied by hand.

Why: the hosts' vvold.log says what one host saw; vCenter's SMS (``sps.log``) says whether the
provider's registration and trust held (SetContext failures, ``certificate_unknown``, ``self
signed certificate``, sync failures, a provider going offline or coming back), which is
registration and trust evidence, never pressure. ``vpxd.log`` names the migration and
maintenance-mode tasks, with their start, end, state and error, when no task export was made.

Line shapes (docs/evidence-formats.md §1.11):

* sps.log [VERBATIM, KB 402809 / KB 320568]:
  ``<ts> [pool-29-thread-2] WARN  opId=sps-Main-#####-### com.vmware.vim.sms.provider.vasa.
  VersionHandler - [isLegacyProvider] Failed to retrieve version information from provider -
  https://esxihost.example.com:9080/version.xml: certificate_unknown(46)`` (two spaces after
  ``WARN``); stack traces follow on lines without a time (``java.lang.InterruptedException:
  org.apache.axis2.AxisFault: self signed certificate``). The KB masks the time as
  ``YYYY-MM-DDTHH:MM:SS``; a time without a zone is read as UTC (the appliance logs in UTC).
* vpxd.log: the Vmacore framing of hostd/vvold (``info vpxd[10578] [Originator@6876 sub=vpxLro
  opID=...]``) with ``[VpxLRO] -- BEGIN task-238296 -- <entity> -- <method> --`` and
  ``[VpxLRO] -- FINISH task-N`` [VERBATIM, KB 305768], ``[VpxLRO] -- ERROR lro-134510 --
  SessionManager -- vim.SessionManager.impersonateUser: vim.fault.InvalidLogin:`` followed by
  ``--> Result:`` / ``--> (vim.fault.InvalidLogin) {`` continuation lines [VERBATIM].

Both readers stream: a cheap lower-case keyword test keeps most lines away from any regex.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from vvolguard.evidence import logline as ll
from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import (
    Citation,
    EvidenceKind,
    EvidenceSpan,
    HostOperation,
    MigrationTask,
    ProviderEvent,
    ProviderEventKind,
    Record,
    TaskState,
    clip,
)

VCENTER = "vcenter"
#: Longest line looked at; the rest of a longer line is not read (a stack dump can be huge).
MAX_LINE_CHARS = 64 * 1024

_SPS_TS = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?"
#: ``<ts> [<thread>] <LEVEL> [opId=<id>] <logger> - <message>``; only the time is required.
SPS_LINE_RE = re.compile(
    rf"^(?P<ts>{_SPS_TS})\s+(?:\[(?P<thread>[^\]]{{0,200}})\]\s+)?(?P<level>[A-Z]{{3,7}})?\s*"
    r"(?:opId=(?P<opid>\S+)\s+)?(?:(?P<logger>[\w.$]+)\s+-\s+)?(?P<msg>.*)$"
)
_URL_RE = re.compile(r"https?://[^\s,;)\]\"'<>]+")
_PROVIDER_RE = re.compile(r"(?i)\b(?:provider|VP)(?: name)?[\s:=]+['\"]?(\w[\w.-]{0,120})(?!:/)")


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: ProviderEventKind
    keywords: tuple[str, ...]  # lower-case; any of them makes a line a candidate
    pattern: re.Pattern[str]
    sample: str  # a line this rule must read (tested)


#: First match wins: the certificate named in a failure is its cause. Shapes marked [VERBATIM]
#: in the samples come from KB 402809 / KB 320568; the rest are the usual Java/SMS wordings
#: [RECONSTRUCTED: no public sps.log line of a sync failure or of a provider going offline or
#: online was found].
SPS_RULES: tuple[_Rule, ...] = (
    _Rule(
        ProviderEventKind.CERTIFICATE,
        ("certificate", "pkix", "certification path"),
        re.compile(
            r"(?i)certificate_unknown|self[- ]signed certificate|CertificateNotTrusted|"
            r"certificate verify failed|unable to find valid certification path|PKIX path|"
            r"certificate (?:has )?expired|CertificateExpired|bad_certificate|unknown_ca"
        ),
        # [VERBATIM] KB 402809
        "2024-05-02T10:11:12 [pool-29-thread-2] WARN  opId=sps-Main-12345-678 "
        "com.vmware.vim.sms.provider.vasa.VersionHandler - [isLegacyProvider] Failed to retrieve "
        "version information from provider - https://esxihost.example.com:9080/version.xml: "
        "certificate_unknown(46)",
    ),
    _Rule(
        ProviderEventKind.SETCONTEXT_FAILURE,
        ("setcontext",),
        re.compile(r"(?i)setcontext\W{0,4}(?:\w+\W+){0,6}?(?:fail|interrupt|error)"),
        # [VERBATIM] KB 320568 (its time is not quoted)
        "2024-05-02T10:11:13 [pool-29-thread-3] ERROR opId=sps-Main-605481-414 "
        "com.vmware.vim.sms.client.VasaClientImpl - Setcontext() was interrupted",
    ),
    _Rule(
        ProviderEventKind.SSL,
        ("ssl", "handshake", "tls"),
        re.compile(
            r"(?i)SSLHandshakeException|SSLException|handshake_failure|handshake failed|\bSSL\b|\bTLS\b"
        ),
        "2024-05-02T10:11:14.000Z [pool-1-thread-1] ERROR opId=sps-Main-1-1 "
        "com.vmware.vim.sms.client.VasaClientImpl - javax.net.ssl.SSLHandshakeException: "
        "Received fatal alert: handshake_failure",
    ),
    _Rule(
        ProviderEventKind.TRANSPORT,
        (
            "connection refused",
            "connectexception",
            "timed out",
            "sockettimeout",
            "no route",
            "transport",
            "connection reset",
            "unknownhost",
        ),
        re.compile(
            r"(?i)connection refused|ConnectException|connect timed out|read timed out|"
            r"SocketTimeoutException|No route to host|TRANSPORT_FAULT|connection reset|UnknownHostException"
        ),
        "2024-05-02T10:11:15.000Z [pool-1-thread-1] ERROR opId=sps-Main-1-2 "
        "com.vmware.vim.sms.client.VasaClientImpl - java.net.ConnectException: Connection refused "
        "(Connection refused) https://10.0.0.217:8443/vasa/version.xml",
    ),
    _Rule(
        ProviderEventKind.SYNC_FAILURE,
        ("sync",),
        re.compile(r"(?i)syncError|\bsync\w*\W+(?:\w+\W+){0,6}?fail|fail\w*\W+(?:\w+\W+){0,4}?sync"),
        "2024-05-02T10:11:16.000Z [pool-1-thread-4] ERROR opId=sps-Main-1-3 "
        "com.vmware.vim.sms.provider.ProviderSyncManagerImpl - Sync failed for provider pure-ct0",
    ),
    _Rule(
        ProviderEventKind.OFFLINE,
        ("offline", "disconnected", "providerunavailable", "inactive"),
        re.compile(r"(?i)\boffline\b|\bdisconnected\b|ProviderUnavailable|InactiveProvider"),
        "2024-05-02T10:11:17.000Z [pool-1-thread-4] WARN  opId=sps-Main-1-4 "
        "com.vmware.vim.sms.provider.ProviderStatusMonitor - Provider pure-ct0 status changed to offline",
    ),
    _Rule(
        ProviderEventKind.ONLINE,
        ("online", "registered", "connected to"),
        re.compile(r"(?i)\bonline\b|registered successfully|successfully registered|\bconnected to provider"),
        "2024-05-02T10:20:00.000Z [pool-1-thread-4] INFO  opId=sps-Main-1-5 "
        "com.vmware.vim.sms.provider.ProviderStatusMonitor - Provider pure-ct0 status changed to online",
    ),
)
_SPS_KEYWORDS = tuple(sorted({k for rule in SPS_RULES for k in rule.keywords}))


def classify_sps(message: str) -> ProviderEventKind | None:
    """The kind of one sps.log message (or stack-trace line), or None for routine lines."""
    lower = message.lower()
    if not any(k in lower for k in _SPS_KEYWORDS):
        return None
    for rule in SPS_RULES:
        if any(k in lower for k in rule.keywords) and rule.pattern.search(message):
            return rule.kind
    return None


def parse_sps_ts(text: str) -> datetime | None:
    """An sps.log time: ISO with ``T`` or a space, ``.`` or ``,`` before the fraction, and UTC
    when no zone is written."""
    raw = text.replace(" ", "T", 1).replace(",", ".", 1)
    if not re.search(r"(?:Z|[+-]\d{2}:?\d{2})$", raw):
        raw += "Z"
    return ll.parse_ts(raw)


class _Span:
    """First and last time seen and how many timed lines (coverage)."""

    def __init__(self) -> None:
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.lines = 0

    def see(self, ts: datetime) -> None:
        self.lines += 1
        self.first = ts if self.first is None or ts < self.first else self.first
        self.last = ts if self.last is None or ts > self.last else self.last

    def record(self, ef: EvidenceFile, kind: EvidenceKind) -> EvidenceSpan | None:
        if self.first is None or self.last is None:
            return None
        return EvidenceSpan(ef.display, VCENTER, kind, self.first, self.last, self.lines)


def _lines(ef: EvidenceFile) -> Iterator[tuple[int, str]]:
    for number, text in ef.lines():
        yield number, text[:MAX_LINE_CHARS]


class _VcenterLogSniff:
    """Content first (85), the file name alone a weaker hint (60), both together surest."""

    _CONTENT: re.Pattern[bytes]
    _NAME: re.Pattern[str]

    def sniff(self, name: str, head: bytes) -> int:
        score = 85 if self._CONTENT.search(head) else 0
        if self._NAME.fullmatch(name.lower()):
            score = max(score, 60) + (10 if score else 0)
        return min(score, 100)


class SpsLogReader(_VcenterLogSniff):
    """``sps.log``: vCenter's Storage Monitoring Service, one ProviderEvent per line that says
    something about a provider's registration, trust or status."""

    kind = EvidenceKind.SPS_LOG
    _CONTENT = re.compile(rb"com\.vmware\.vim\.sms\.|opId=sps-|\bsps-Main-")
    _NAME = re.compile(r"sps(?:-\d+)?\.log(?:\.\d+)?")

    def read(self, ef: EvidenceFile) -> Iterator[Record]:
        span = _Span()
        last_ts: datetime | None = None
        try:
            for number, text in _lines(ef):
                line = text.lstrip("\ufeff")
                match = SPS_LINE_RE.match(line) if line[:1].isdigit() else None
                ts = parse_sps_ts(match["ts"]) if match else None
                if ts is not None:
                    span.see(ts)
                    last_ts = ts
                    message = match["msg"] if match else line
                else:
                    message = line.strip()  # a stack-trace line belongs to the record above
                kind = classify_sps(message)
                if kind is None:
                    continue
                if last_ts is None:
                    ef.warn("provider event without a timestamped line before it; skipped", number)
                    continue
                url = _URL_RE.search(message)
                provider = _PROVIDER_RE.search(message)
                yield ProviderEvent(
                    ts=last_ts,
                    kind=kind,
                    provider=provider[1] if provider else None,
                    url=url[0].rstrip(":.") if url else None,
                    observer=VCENTER,
                    message=clip(message),
                    citation=Citation(ef.display, number, text),
                )
        except Exception as exc:  # the last line of defence: a reader never raises
            ef.warn(f"internal: sps.log reader stopped early ({exc!r})")
        spans = span.record(ef, self.kind)
        if spans is not None:
            yield spans


# --------------------------------------------------------------------------------------------
# vpxd.log
# --------------------------------------------------------------------------------------------

#: ``[VpxLRO] -- BEGIN|FINISH|ERROR <task-N|lro-N> [-- <entity> -- <method>[: fault] [-- ...]]``
LRO_RE = re.compile(
    r"\[VpxLRO\] -- (?P<what>BEGIN|FINISH|ERROR|CANCELLED|CANCEL) (?P<id>(?:task|lro|haTask)-[\w.-]+)"
    r"(?: -- (?P<entity>[^\s]*) -- (?P<method>[\w.$]+)(?P<rest>[^\n]*))?"
)
_MIGRATE_METHOD = re.compile(r"(?i)(?:\.|^)(?:relocate\w*|migrate\w*|ExecuteVMotion\w*)$|VMotion")
_MAINTENANCE = {
    "entermaintenancemode": "enter-maintenance-mode",
    "exitmaintenancemode": "exit-maintenance-mode",
}
_FAULT_MSG_RE = re.compile(r'\bmsg = "(?P<msg>[^"]{1,2000})"')
_FAULT_NAME_RE = re.compile(r"\b((?:vim|vmodl)\.fault\.\w+)")
#: Tasks begun and not yet finished that are remembered (oldest forgotten first).
MAX_OPEN_TASKS = 10_000


@dataclass
class _Open:
    task_id: str
    entity: str | None
    method: str
    start: datetime | None
    citation: Citation
    error: str | None = None
    failed: bool = False
    cancelled: bool = False
    end: datetime | None = None
    fault_lines: list[str] = field(default_factory=list)


def _operation(method: str) -> tuple[str, str] | None:
    """("migration", method) or ("host", operation name) for the tasks worth keeping."""
    leaf = method.rsplit(".", 1)[-1]
    if _MIGRATE_METHOD.search(method):
        return "migration", method
    op = _MAINTENANCE.get(leaf.lower())
    return ("host", op) if op else None


class VpxdLogReader(_VcenterLogSniff):
    """``vpxd.log``: migration tasks (relocate / migrate / DRS vMotion) and maintenance-mode
    tasks from the ``[VpxLRO]`` lifecycle lines."""

    kind = EvidenceKind.VPXD_LOG
    _CONTENT = re.compile(rb"\bvpxd\[\d+\]|\[VpxLRO\]|\bVpxd\[\d+\]:")
    _NAME = re.compile(r"vpxd(?:-\d+)?\.log(?:\.\d+)?")

    def read(self, ef: EvidenceFile) -> Iterator[Record]:
        span = _Span()
        open_tasks: OrderedDict[str, _Open] = OrderedDict()
        erroring: _Open | None = None  # the task whose ERROR fault body follows on --> lines
        try:
            for number, text in _lines(ef):
                parsed = ll.parse_line(text) if text[:1].isdigit() or ":" in text[:24] else None
                if parsed is None:
                    if erroring is not None and len(erroring.fault_lines) < 50:
                        erroring.fault_lines.append(ll.continuation_text(text))
                    continue
                span.see(parsed.ts)
                erroring = None
                if "[VpxLRO]" not in parsed.msg:
                    continue
                match = LRO_RE.search(parsed.msg)
                if match is None:
                    continue
                yield from self._lro(ef, match, parsed.ts, number, text, open_tasks)
                if match["what"] == "ERROR":
                    erroring = open_tasks.get(match["id"])
            for task in list(open_tasks.values()):  # begun, never finished in this file
                yield from self._emit(task, finished=False)
        except Exception as exc:  # the last line of defence: a reader never raises
            ef.warn(f"internal: vpxd.log reader stopped early ({exc!r})")
        spans = span.record(ef, self.kind)
        if spans is not None:
            yield spans

    def _lro(
        self,
        ef: EvidenceFile,
        match: re.Match[str],
        ts: datetime,
        number: int,
        text: str,
        open_tasks: OrderedDict[str, _Open],
    ) -> Iterator[Record]:
        what, task_id = match["what"], match["id"]
        if what == "BEGIN":
            method = match["method"] or ""
            if _operation(method) is None:
                return
            open_tasks[task_id] = _Open(
                task_id, match["entity"] or None, method, ts, Citation(ef.display, number, text)
            )
            while len(open_tasks) > MAX_OPEN_TASKS:
                open_tasks.popitem(last=False)
            return
        task = open_tasks.get(task_id)
        if task is None and what == "ERROR" and match["method"] and _operation(match["method"]):
            # an ERROR whose BEGIN is before this file: still a failed task
            task = open_tasks[task_id] = _Open(
                task_id, match["entity"] or None, match["method"], None, Citation(ef.display, number, text)
            )
        if task is None:
            return
        if what == "ERROR":
            task.failed = True
            fault = _FAULT_NAME_RE.search(match["rest"] or "")
            task.error = fault[1] if fault else (match["rest"] or "").strip(" :-") or None
            task.citation = Citation(ef.display, number, text)
        elif what in ("CANCELLED", "CANCEL"):
            task.cancelled = True
        else:  # FINISH
            task.end = ts
            del open_tasks[task_id]
            yield from self._emit(task, finished=True)

    @staticmethod
    def _emit(task: _Open, finished: bool) -> Iterator[Record]:
        body = "\n".join(task.fault_lines)
        message = _FAULT_MSG_RE.search(body)
        error = task.error
        if message is not None:
            error = f"{error}: {message['msg']}" if error else message["msg"]
        if task.failed:
            state = TaskState.ERROR
        elif task.cancelled:
            state, error = TaskState.ERROR, error or "cancelled"
        elif finished:
            state = TaskState.SUCCESS
        else:
            state = TaskState.RUNNING
        which = _operation(task.method)
        if which is None:
            return
        if which[0] == "migration":
            yield MigrationTask(
                task_id=task.task_id,
                vm=task.entity,
                source_host=None,
                dest_host=None,
                state=state,
                start=task.start,
                end=task.end,
                error=clip(error) if error else None,
                description_id=task.method,
                citation=task.citation,
            )
        else:
            yield HostOperation(
                operation=which[1],
                host=task.entity,
                state=state,
                start=task.start,
                end=task.end,
                task_id=task.task_id,
                error=clip(error) if error else None,
                citation=task.citation,
            )


READERS = [SpsLogReader(), VpxdLogReader()]
