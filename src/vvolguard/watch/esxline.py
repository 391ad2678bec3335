"""An ESXi syslog message back into the log lines the host wrote to its own file.

The vvold reader (:mod:`vvolguard.evidence.vvold_block`) knows the file grammar of both ESXi
shapes (docs/evidence-formats.md §1.2, §1.3); a forwarded message carries the same text behind a syslog
header instead of the file's time and level. Rebuilding the file line lets watch use that reader
unchanged, so watch and ``diagnose`` cannot disagree about what a line means:

* 6.x/7.0 style, the tag names the daemon and the message keeps the file's level and
  ``app[pid]`` (``Vvold: info vvold[2099041] [Originator@6876 ...] ...``): time + message;
* 8.0 style, the tag is ``Vvold[pid]`` and the message starts at the metadata: time + the
  severity spelt as 8.0 files do (``Er(163)``) + ``Vvold[pid]:`` + message;
* a message with embedded newlines (octet-counted TCP, TLS, a large UDP datagram) is one
  multi-line record: its later lines become ``-->`` continuations of the first, as in the file;
* a message that is itself a continuation (``--> ...``, or a ``+`` line marker) keeps the 8.0
  ``App[pid]: -->`` spelling, which the reader attaches to its record.
"""

from __future__ import annotations

import re

from vvolguard.evidence import logline as ll
from vvolguard.watch.syslog import SyslogMessage, esxi_time

#: The daemons watch reads. Anything else is counted and dropped.
VVOLD, HOSTD, VMKERNEL, VOBD, OTHER = "vvold", "hostd", "vmkernel", "vobd", "other"
_KNOWN = {VVOLD, HOSTD, VMKERNEL, VOBD, "vmkwarning"}

#: The 6.7/7.0 file line without its time: ``info vvold[123] ...`` (level word + app[pid]).
_EMBEDDED_RE = re.compile(rf"^(?:{ll.LEVEL_PATTERN})\s+(?P<app>[A-Za-z][\w.-]*)\[\d+\]")
_SEV = ("Em", "Al", "Cr", "Er", "Wa", "No", "In", "Db")


#: The shape nearly every ESXi message has (RFC 3164 header, RFC 3339 UTC time): matched on the
#: header alone, so :func:`fast_line` can skip building a :class:`SyslogMessage`.
_FAST_RE = re.compile(
    r"<(\d{1,3})>(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z) ([^\s\[\]:]+) "
    r"([A-Za-z][\w./-]{0,47})(?:\[(\d{1,10})\])?: ?"
)
_KNOWN_DAEMON = {VVOLD: VVOLD, HOSTD: HOSTD, VMKERNEL: VMKERNEL, VOBD: VOBD, "vmkwarning": VMKERNEL}


def fast_line(text: str) -> tuple[str, str, str] | None:
    """(host, daemon, file line) of a one-line message in ESXi's usual shape, exactly what
    ``file_lines(syslog.parse(text))`` and :func:`daemon` give, at a fraction of the cost (the
    hot path of a busy receiver); the line is ``""`` for a daemon watch does not read. None: any
    other shape (RFC 5424, BSD time, a relay header, several lines), for the full parse."""
    m = _FAST_RE.match(text)
    if m is None:
        return None
    rest = text[m.end() :]
    if "\n" in rest:
        return None
    pri_text, ts, host, tag, pid = m.groups()
    pri = int(pri_text)
    if pri > 191:
        return None
    if rest.endswith("\r"):
        rest = rest.rstrip("\r")
    known = _KNOWN_DAEMON.get(tag.lower())
    embedded = None if rest.startswith("[") else _EMBEDDED_RE.match(rest)  # 6.7/7.0 shape
    if known is None:
        inner = _KNOWN_DAEMON.get(embedded["app"].lower()) if embedded is not None else None
        if inner is None:
            return host, OTHER, ""
        known = inner
    if embedded is not None:
        return host, known, f"{ts} {rest}"
    return host, known, f"{ts} {_SEV[pri & 7]}({pri}) {tag}[{int(pid) if pid else 0}]: {rest}"


def daemon(msg: SyslogMessage) -> str:
    """Which daemon wrote the message: the tag first, then the ``app[pid]`` inside the message
    (a relay may have replaced the tag), else :data:`OTHER`."""
    app = (msg.app or "").lower()
    if app in _KNOWN:
        return VMKERNEL if app == "vmkwarning" else app
    m = _EMBEDDED_RE.match(msg.msg)
    if m:
        inner = m["app"].lower()
        if inner in _KNOWN:
            return VMKERNEL if inner == "vmkwarning" else inner
    return OTHER


def file_lines(msg: SyslogMessage) -> list[str]:
    """The log-file lines of one message (first the record's own line, then continuations)."""
    ts = esxi_time(msg.ts)
    parts = msg.msg.split("\n") if "\n" in msg.msg else [msg.msg]
    first = parts[0].rstrip("\r")
    if _EMBEDDED_RE.match(first):
        head = f"{ts} {first}"
    else:
        pri = 166 if msg.pri is None else msg.pri
        app = msg.app or "unknown"
        pid = msg.pid if msg.pid is not None else 0
        meta = f"{msg.sd} " if msg.sd.startswith("[Originator@") else ""
        head = f"{ts} {_SEV[pri & 7]}({pri}) {app}[{pid}]: {meta}{first}"
    if len(parts) == 1:
        return [head]
    out = [head]
    for part in parts[1:]:
        part = part.rstrip("\r")
        if not part:
            continue
        if ll.TS_RE.match(part) or ll.CONTINUATION_RE.match(part):
            out.append(part)
        else:
            out.append("--> " + part)
    return out
