"""ESXi log lines as ESXi would forward them over syslog: to test a watch setup end to end
(the tests and ``benchmarks/watch_ingest.py`` replay simulated incidents with it).

``records`` groups a log file's lines into records (a timestamped line and its ``-->``
continuations); ``to_syslog`` spells one record the way ESXi 7 (RFC 3164, daemon tag, the file
line's level and ``app[pid]`` kept) or ESXi 8 (RFC 3164 with ``App[pid]:`` tag, or RFC 5424 with
the ``[Originator@6876 ...]`` metadata as structured data) sends it; ``frame`` adds TCP framing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from vvolguard.evidence import logline as ll

_META_RE = re.compile(r"^\[(Originator@\d+[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*)\]\s?")
_PAIR_RE = re.compile(r"(\w+)=(\S+)")
_PLAIN_RE = re.compile(
    rf"^(?P<ts>{ll.TS_PATTERN})\s+(?P<level>{ll.LEVEL_PATTERN})\s+(?P<app>[A-Za-z][\w.-]*):\s(?P<msg>.*)$"
)


def records(lines: Iterable[str]) -> Iterator[list[str]]:
    """Group lines into records: a timestamped line plus the continuation lines after it."""
    current: list[str] = []
    for line in lines:
        line = line.rstrip("\r\n")
        if not line:
            continue
        if ll.TS_RE.match(line) or not current:
            if current:
                yield current
            current = [line]
        else:
            current.append(line)
    if current:
        yield current


def _pri(level: str | None) -> int:
    if level and "(" in level:
        return int(level[level.index("(") + 1 : level.index(")")])
    return {"error": 163, "warning": 164, "verbose": 167, "trivia": 167}.get(level or "", 166)


def to_syslog(record: list[str], host: str, fmt: str = "3164") -> str:
    """One record as a syslog message (multi-line when it has continuations). ``fmt``: ``3164``
    or ``5424``. Lines that are not ESXi log lines are sent as the message of a ``vvold`` tag."""
    first = record[0]
    m = ll.LINE_RE.match(first)
    rest = "\n".join(record[1:])
    plain = _PLAIN_RE.match(first) if m is None else None
    if plain is not None:  # vmkernel/vobd: ``ts In(182) vmkernel: msg`` (no pid)
        text = plain["msg"] + ("\n" + rest if rest else "")
        return f"<{_pri(plain['level'])}>{plain['ts']} {host} {plain['app']}: {text}"
    if m is None:
        text = first + ("\n" + rest if rest else "")
        return f"<166>{host} vvold: {text}" if fmt == "3164" else f"<166>1 - {host} vvold - - - {text}"
    ts, level, app, pid = m["ts"], m["level"], m["app"], m["pid"]
    body = first[m.start("cont") if m["cont"] else m.start("meta") - 1 if m["meta"] else m.start("msg") :]
    pri = _pri(level)
    esxi8 = "(" in level
    tag = app[:1].upper() + app[1:].lower()
    if fmt == "5424":
        sd, msg = "-", body
        meta = _META_RE.match(body)
        if meta:
            origin, _, pairs = meta[1].partition(" ")
            quoted = " ".join(f'{k}="{v}"' for k, v in _PAIR_RE.findall(pairs))
            sd = f"[{origin}{' ' + quoted if quoted else ''}]"
            msg = body[meta.end() :]
        text = msg + ("\n" + rest if rest else "")
        return f"<{pri}>1 {ts} {host} {tag} {pid} - {sd} {text}"
    if esxi8:
        text = body + ("\n" + rest if rest else "")
        return f"<{pri}>{ts} {host} {tag}[{pid}]: {text}"
    # ESXi 7: the tag names the daemon, the message keeps the file line's level and app[pid]
    text = first[len(ts) :].lstrip() + ("\n" + rest if rest else "")
    return f"<{pri}>{ts} {host} {tag}: {text}"


def messages(record: list[str], host: str, fmt: str = "3164", multiline: bool = True) -> list[str]:
    """The record as one multi-line message, or (``multiline=False``, as for UDP or newline
    framing) one message per line, each continuation repeating its record's header as ESXi 8
    files do (``App[pid]: --> text``)."""
    if multiline or len(record) == 1:
        return [to_syslog(record, host, fmt)]
    out = [to_syslog(record[:1], host, fmt)]
    m = ll.LINE_RE.match(record[0])
    for line in record[1:]:
        text = ll.continuation_text(line)
        if m is None:
            out.append(to_syslog([line], host, fmt))
        elif "(" in m["level"]:
            out.append(to_syslog([f"{m['ts']} {m['level']} {m['app']}[{m['pid']}]: --> {text}"], host, fmt))
        else:
            out.append(to_syslog([f"{m['ts']} {m['level']} {m['app']}[{m['pid']}] --> {text}"], host, fmt))
    return out


def frame(message: str, octet: bool) -> bytes:
    """TCP framing: RFC 6587 octet counting, or a newline (single-line messages only)."""
    data = message.encode("utf-8")
    if octet:
        return str(len(data)).encode() + b" " + data
    if b"\n" in data:
        raise ValueError("a multi-line message needs octet counting")
    return data + b"\n"
