"""Syslog headers (RFC 5424 and RFC 3164, as ESXi and relays write them) -> host, app and message.

ESXi sends (docs/evidence-formats.md §8, docs/esxi-syslog.md):

* 6.x/7.0 and 8.0 by default, RFC 3164 with an RFC 3339 time:
  ``<166>2019-05-21T19:27:32.479Z esx03.lab Hostd: info hostd[123] [Originator@6876 ...] msg``
  or ``<163>2025-08-08T12:17:14.610Z esx03.lab Vvold[2255518]: [Originator@6876 ...] msg``;
* 8.0 with RFC 5424 formatting:
  ``<163>1 2025-08-08T12:17:14.610Z esx03.lab Vvold 2255518 - [Originator@6876 sub="Default"] msg``;
* a relay may put its own BSD header in front (``Jan  1 12:34:56 10.1.2.3 <the ESXi header>``);
  the inner (ESXi) header names the host, so it wins.

Every pattern is anchored and has no nested quantifiers (linear time). Parsing never raises:
what is not syslog gives ``None`` and the caller counts it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

#: ``<PRI>`` (0..191) at the very start.
_PRI = r"<(?P<pri>\d{1,3})>"
_RFC3339 = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?"
_BSD_TS = r"[A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}"

RFC5424_RE = re.compile(
    rf"^{_PRI}1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) (?P<rest>.*)$",
    re.DOTALL,
)
RFC3164_RE = re.compile(
    rf"^(?:{_PRI})?(?P<ts>{_RFC3339}|{_BSD_TS}) (?P<host>[^\s\[\]:]+) "
    r"(?P<tag>[A-Za-z][\w./-]{0,47})(?:\[(?P<pid>\d{1,10})\])?: ?(?P<rest>.*)$",
    re.DOTALL,
)
#: A relay's own BSD header in front of the ESXi one: ``Jan  1 12:34:56 10.1.2.3 ``.
_RELAY_RE = re.compile(rf"^(?:{_PRI})?{_BSD_TS} \S+ (?=(?:<\d{{1,3}}>)?\d{{4}}-\d{{2}}-\d{{2}}T)")
#: RFC 5424 SD parameters that ESXi adds to a message it cut to the remote max length (§8).
_CUT_MARKERS = ("msgModified", "originalLen", "remoteHostMaxMsgLen")


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~3x (one per message)
class SyslogMessage:
    """One syslog message. ``host`` is the header's hostname (the sender's address when the header
    has none); ``app``/``pid`` are the tag (3164) or APP-NAME/PROCID (5424), None when absent;
    ``sd`` is RFC 5424 structured data as sent (``""`` for none); ``cut`` says the sender shortened it."""

    pri: int | None
    ts: str
    host: str
    app: str | None
    pid: int | None
    sd: str
    msg: str
    cut: bool = False

    @property
    def severity(self) -> int | None:
        return None if self.pri is None else self.pri & 7


def _pri(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    return value if value <= 191 else None


def split_sd(rest: str) -> tuple[str, str] | None:
    """``[id k="v"][id2 ...] msg`` -> (structured data, message). ``-`` means none. The scan
    honours ``\\]`` and ``\\"`` escapes; an unterminated element gives None (malformed)."""
    if rest.startswith("-"):
        return "", rest[2:] if rest.startswith("- ") else rest[1:]
    i, n = 0, len(rest)
    while i < n and rest[i] == "[":
        i += 1
        quoted = False
        while i < n:
            c = rest[i]
            if c == "\\":
                i += 2
                continue
            if c == '"':
                quoted = not quoted
            elif c == "]" and not quoted:
                break
            i += 1
        if i >= n:
            return None
        i += 1
    if i == 0:
        return None
    sd, msg = rest[:i], rest[i:]
    return sd, msg[1:] if msg.startswith(" ") else msg


def parse(text: str, peer: str) -> SyslogMessage | None:
    """Parse one syslog message (already decoded, framing removed). None: not syslog."""
    if text.startswith("\ufeff"):
        text = text[1:]
    msg = _parse(text, peer)
    if msg is None:
        relay = _RELAY_RE.match(text)  # a relay's BSD header before the ESXi one
        if relay:
            msg = _parse(text[relay.end() :], peer)
    return msg


def _parse(text: str, peer: str) -> SyslogMessage | None:
    m = RFC5424_RE.match(text) if ">1 " in text[:7] else None
    if m:
        parts = split_sd(m["rest"])
        if parts is None:
            return None
        sd, msg = parts
        if msg.startswith("\ufeff"):  # RFC 5424 MSG may start with a UTF-8 BOM
            msg = msg[1:]
        host = m["host"]
        app = m["app"]
        procid = m["procid"]
        ts = m["ts"]
        return SyslogMessage(
            pri=_pri(m["pri"]),
            ts="" if ts == "-" else ts,
            host=peer if host == "-" else host,
            app=None if app == "-" else app,
            pid=int(procid) if procid.isdigit() and len(procid) <= 10 else None,
            sd=sd,
            msg=msg,
            cut=bool(sd) and any(k in sd for k in _CUT_MARKERS),
        )
    m = RFC3164_RE.match(text)
    if m:
        pid = m["pid"]
        return SyslogMessage(
            pri=_pri(m["pri"]),
            ts=m["ts"],
            host=m["host"],
            app=m["tag"],
            pid=int(pid) if pid else None,
            sd="",
            msg=m["rest"],
        )
    return None


_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


def esxi_time(ts: str, now: datetime | None = None) -> str:
    """The header time in ESXi's own log spelling (``YYYY-MM-DDTHH:MM:SS.fffZ``) when it can be
    given cheaply: RFC 3339 UTC times pass as they are (the vvold reader parses any offset), a
    BSD time (no year, no zone) is taken as UTC in the current year, an empty one is ``now``."""
    if ts and ts[0].isdigit():
        return ts if ts.endswith("Z") or ts[-3] == ":" or ts[-5] in "+-" else ts + "Z"
    now = now or datetime.now(UTC)
    if ts:
        try:
            mon, day, clock = ts.split()
            when = datetime.strptime(
                f"{now.year}-{_MONTHS[mon]:02d}-{int(day):02d}T{clock}", "%Y-%m-%dT%H:%M:%S"
            )
            return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        except (KeyError, ValueError):
            pass
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
