"""Terminal transcripts: command outputs pasted or logged together with their prompts.

Why: admins rarely send a clean ``esxcli`` or ``Get-Task`` output. They copy a terminal window
(``[root@esx-03:~] esxcli storage vvol vasaprovider list`` and what it printed, often several
commands in a row), save a PuTTY session log (which starts with a dated header line), or a
PowerShell ``Start-Transcript``. The prompt is evidence in itself: it names the host the command
ran on and which command printed the lines below it; a PuTTY header dates the snapshot.

This module only splits such text into :class:`Section` objects (command, host, time, output
lines with their line numbers); the readers parse each section's output with their usual parsers.
Text without any prompt or session header is returned untouched, so the common case costs one
linear scan.

Every pattern here is anchored and bounded (no nested or unbounded quantifier that can backtrack
over a line), so a 64 KiB head of blank lines or spaces costs linear time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vvolguard.evidence.warner import Warn

#: A line longer than this is output, never a prompt (prompts are short).
MAX_PROMPT_LINE = 4096
#: Sections kept per file; a pathological paste cannot make the reader loop for ever.
MAX_SECTIONS = 10_000

#: CSI (colours, cursor moves), OSC (window titles, ended by BEL or ESC \), and 2-byte escapes.
ANSI = re.compile(r"\x1b(?:\[[0-?]{0,64}[ -/]{0,16}[@-~]|\][^\x07\x1b]{0,4096}(?:\x07|\x1b\\)?|[@-Z\\-_])")

#: ``[root@esx-03:~] cmd`` (ESXi 6.5 and later; a ``#`` or ``$`` after the bracket is tolerated).
ESXI_PROMPT = re.compile(
    r"\[(?P<user>[\w.-]{1,64})@(?P<host>[\w.-]{1,253}):[^\]\n]{0,512}\][ \t]?[#$]?[ \t]?(?P<cmd>.*)"
)
#: ``root@esx03:~ # cmd`` (ESXi 5.x/6.0, Linux shells), ``admin@jump:~$ cmd``.
POSIX_PROMPT = re.compile(
    r"(?P<user>[\w.-]{1,64})@(?P<host>[\w.-]{1,253}):[^ \t#$\n]{0,512}[ \t]?[#$][ \t]?(?P<cmd>.*)"
)
#: A bare ``$ ``/``# ``/``> `` prompt: only with a command this tool knows (``# `` is also a heading).
SIMPLE_PROMPT = re.compile(
    r"[$#>%][ \t]{1,4}(?P<cmd>(?:\S{0,64}/)?(?:esxcli|localcli|hostname|date|vim-cmd)(?:\.exe|\.py)?\b.*)"
)
#: ``PS C:\> cmd``, ``PS /home/admin> cmd``, ``PowerCLI C:\> cmd``.
PS_PROMPT = re.compile(
    r"(?:PS|PowerCLI)[ \t](?:[A-Za-z]:\\|[/~]|Microsoft\.PowerShell)[^>\n]{0,512}>[ \t]?(?P<cmd>.*)"
)
#: ``=~=~=~=~=~=~=~=~=~=~=~= PuTTY log 2026.03.14 10:22:01 =~=~=~=~=~=~=~=~=~=~=~=``
PUTTY_HEADER = re.compile(
    r"=~=~=[=~]{0,64} PuTTY log (?P<date>\d{4}\.\d{2}\.\d{2}) (?P<time>\d{2}:\d{2}:\d{2}) =~=[=~]{0,64}"
)
#: PowerShell ``Start-Transcript`` header: a block between lines of asterisks.
PS_TRANSCRIPT_RULE = re.compile(r"\*{10,200}")
PS_TRANSCRIPT_START = re.compile(r"Start time: (?P<stamp>\d{14})")
_PS_TRANSCRIPT_NOTES = ("Transcript started, output file is", "Transcript stopped, output file is")
#: Quick test for any of the above at a line start (bounded, so linear on any text).
MARKERS = re.compile(
    r"^(?:\[[\w.-]{1,64}@|[\w.-]{1,64}@[\w.-]{1,253}:|[$#>%][ \t]|PS[ \t]|PowerCLI[ \t]|=~=~=|\*{10})",
    re.MULTILINE,
)


@dataclass
class Section:
    """The output of one command (or the text before the first prompt: ``command`` None)."""

    command: str | None
    host: str | None  # from the prompt
    shell: str | None  # "esxi" | "posix" | "powershell" | None
    first_line: int  # 1-based line number, in the file, of the first output line
    lines: list[str] = field(default_factory=list)
    #: naive local time of the session (PuTTY header, PowerShell transcript header), if any
    session_time: datetime | None = None
    session_line: int | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def offset(self) -> int:
        """Add to a line number within :attr:`text` to get the line number in the file."""
        return self.first_line - 1


@dataclass
class Transcript:
    sections: list[Section]
    prompts: int  # how many prompt lines were seen
    prompt_hosts: list[str] = field(default_factory=list)  # hosts named by prompts, in order

    def hosts(self) -> list[str]:
        return self.prompt_hosts


def has_markers(text: str) -> bool:
    """True when the text holds something that looks like a prompt or a session header."""
    return MARKERS.search(text) is not None


def clean(line: str) -> str:
    """A terminal line as a person saw it: no CR, no colour codes, no overwritten part."""
    line = line.rstrip("\r")
    if "\x1b" in line:
        line = ANSI.sub("", line)
    if "\r" in line:  # a progress line overwritten in place: what remains is the last write
        line = line.rsplit("\r", 1)[-1] or line.replace("\r", "")
    return line


def prompt(line: str) -> tuple[str, str | None, str] | None:
    """``(shell, host, command)`` when ``line`` is a prompt line (command may be empty)."""
    if not line or len(line) > MAX_PROMPT_LINE or line[0] in " \t{\"'":
        return None
    match = ESXI_PROMPT.match(line)
    if match:
        return "esxi", _host(match.group("host")), match.group("cmd").strip()
    match = PS_PROMPT.match(line)
    if match:
        return "powershell", None, match.group("cmd").strip()
    match = POSIX_PROMPT.match(line)
    if match:
        return "posix", _host(match.group("host")), match.group("cmd").strip()
    match = SIMPLE_PROMPT.match(line)
    if match:
        return "posix", None, match.group("cmd").strip()
    return None


def _host(name: str) -> str | None:
    """A prompt's host; ``localhost`` (an unconfigured ESXi) names no host in particular."""
    name = name.strip(".")
    return None if not name or name.lower().startswith("localhost") else name


def parse(text: str) -> Transcript:
    """Split a transcript into sections. Text without prompts gives one section (command None)."""
    current = Section(command=None, host=None, shell=None, first_line=1)
    sections = [current]
    prompts = 0
    session: tuple[datetime | None, int] | None = None
    in_ps_header = False
    hosts: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = clean(raw)
        if line.startswith("=~=") and (stamp := PUTTY_HEADER.match(line)):
            session = _putty_time(stamp), number
            if current.lines or current.command is not None:
                current = _next(sections, None, None, None, number + 1, session)
            else:
                current.first_line = number + 1
                current.session_time, current.session_line = session
            continue
        if PS_TRANSCRIPT_RULE.fullmatch(line.strip()):
            in_ps_header = not in_ps_header
            if not in_ps_header and not current.lines:
                current.first_line = number + 1
            continue
        if in_ps_header:
            started = PS_TRANSCRIPT_START.match(line.strip())
            if started:
                session = _ps_time(started.group("stamp")), number
                current.session_time, current.session_line = session
            continue
        found = prompt(line)
        if found is None:
            if line.startswith(_PS_TRANSCRIPT_NOTES):
                continue  # PowerShell's own "Transcript started, output file is ..."
            if not current.lines and not line.strip():
                current.first_line = number + 1  # blank lines right after a prompt
                continue
            current.lines.append(line)
            continue
        prompts += 1
        shell, host, command = found
        if host and host not in hosts and len(hosts) < 64:
            hosts.append(host)
        if len(sections) >= MAX_SECTIONS:
            current.lines.append(line)
            continue
        current = _next(sections, command or None, host, shell, number + 1, session)
    for section in sections:
        while section.lines and not section.lines[-1].strip():
            section.lines.pop()
    kept = [s for s in sections if s.lines or s.command]
    return Transcript(sections=kept, prompts=prompts, prompt_hosts=hosts)


def _next(
    sections: list[Section],
    command: str | None,
    host: str | None,
    shell: str | None,
    first_line: int,
    session: tuple[datetime | None, int] | None,
) -> Section:
    section = Section(command=command, host=host, shell=shell, first_line=first_line)
    if session is not None:
        section.session_time, section.session_line = session
    sections.append(section)
    return section


def _putty_time(match: re.Match[str]) -> datetime | None:
    try:
        return datetime.strptime(f"{match.group('date')} {match.group('time')}", "%Y.%m.%d %H:%M:%S")
    except ValueError:
        return None


def _ps_time(stamp: str) -> datetime | None:
    try:
        return datetime.strptime(stamp, "%Y%m%d%H%M%S")
    except ValueError:
        return None


@lru_cache(maxsize=16)
def parsed_head(text: str) -> Transcript | None:
    """The transcript of a sniffing head, or None when it has no prompt or header (cached: every
    reader's sniffer asks about the same head)."""
    if not has_markers(text):
        return None
    transcript = parse(text)
    if transcript.prompts == 0 and all(s.session_time is None for s in transcript.sections):
        return None
    return transcript


def output_head(text: str) -> str:
    """A sniffing head without prompts and session headers: what the commands printed."""
    transcript = parsed_head(text)
    if transcript is None:
        return text
    outputs = [s.text for s in transcript.sections if s.text.strip()]
    # data (JSON, an Export-Csv #TYPE line) first, so a line of chatter before it does not hide it
    outputs.sort(key=lambda out: not out.lstrip().startswith(("[", "{", "#TYPE", '"')))
    return "\n".join(outputs)


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------

#: esxcli options that take a value in the next word when written without ``=``.
_VALUE_OPTIONS = frozenset(
    {
        "--formatter",
        "--format-param",
        "--server",
        "-s",
        "--username",
        "-u",
        "--password",
        "-p",
        "--plugin-dir",
        "--thumbprint",
        "-d",
        "--sessionfile",
        "--credstore",
        "--vihost",
        "-h",
        "--config",
        "-c",
        "--cacertsfile",
        "--protocol",
        "--portnumber",
        "--url",
    }
)


@dataclass(frozen=True)
class EsxcliCommand:
    words: tuple[str, ...]  # the namespace and verb: ("storage", "vvol", "vasaprovider", "list")
    formatter: str | None
    server: str | None  # --server: the host a remote esxcli (vCLI) talked to


def esxcli_command(command: str | None) -> EsxcliCommand | None:
    """The esxcli invocation in a command line (``esxcli``/``localcli``, options anywhere)."""
    if not command:
        return None
    tokens = command.split("|", 1)[0].split()[:64]
    while tokens and tokens[0] in ("sudo", "time", "nice"):
        tokens = tokens[1:]
    if not tokens:
        return None
    program = tokens[0].rsplit("/", 1)[-1].rsplit("\\", 1)[-1].lower()
    if program.removesuffix(".exe").removesuffix(".py") not in ("esxcli", "localcli"):
        return None
    words: list[str] = []
    options: dict[str, str] = {}
    i = 1
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("-"):
            name, eq, value = token.partition("=")
            if not eq and name in _VALUE_OPTIONS and i + 1 < len(tokens):
                value = tokens[i + 1]
                i += 1
            options[name.lower()] = value.strip("'\"")
        elif token in (">", ">>", "2>&1") or token.startswith(">"):
            break
        else:
            words.append(token.lower())
        i += 1
    formatter = options.get("--formatter")
    server = options.get("--server") or options.get("-s") or options.get("--vihost") or options.get("-h")
    return EsxcliCommand(tuple(words), formatter.lower() if formatter else None, server or None)


#: ``Get-EsxCli -V2``'s call of a vvol list: ``$esxcli.storage.vvol.<ns>.list.Invoke()``.
_ESXCLI_V2 = re.compile(
    r"\.storage\.vvol\.(vasaprovider|protocolendpoint|storagecontainer)\.list\.invoke\(", re.I
)


def vvol_namespace(command: str | None) -> str | None:
    """``vasaprovider`` / ``protocolendpoint`` / ``storagecontainer`` for a ``storage vvol ... list``."""
    v2 = _ESXCLI_V2.search(command or "")
    if v2 is not None:  # PowerCLI: $esxcli.storage.vvol.vasaprovider.list.Invoke()
        return v2.group(1).lower()
    parsed = esxcli_command(command)
    if parsed is None:
        return None
    words = parsed.words
    if len(words) >= 4 and words[:2] == ("storage", "vvol") and words[3] == "list":
        return words[2]
    return None


def is_hostname_command(command: str | None) -> bool:
    parsed = esxcli_command(command)
    if parsed is not None:
        return parsed.words[:3] == ("system", "hostname", "get")
    return bool(command) and command.split()[0].rsplit("/", 1)[-1] == "hostname"  # type: ignore[union-attr]


def is_time_command(command: str | None) -> bool:
    parsed = esxcli_command(command)
    if parsed is not None:
        return parsed.words[:3] == ("system", "time", "get")
    return bool(command) and command.split()[0].rsplit("/", 1)[-1] == "date"  # type: ignore[union-attr]


_DATE_OUTPUT = re.compile(
    r"[A-Z][a-z]{2} (?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) "
    r"(?P<hms>\d{2}:\d{2}:\d{2}) (?:UTC|GMT) (?P<y>\d{4})"
)


def time_output(text: str) -> datetime | None:
    """The UTC time printed by ``date`` (busybox: ``Sat Mar 14 10:22:01 UTC 2026``) or
    ``esxcli system time get`` (``2026-03-14T10:22:01Z``). Local-zone ``date`` output is not used."""
    line = text.strip().split("\n", 1)[0].strip()[:100]
    match = _DATE_OUTPUT.fullmatch(line)
    if match:
        try:
            return datetime.strptime(
                f"{match.group('y')} {match.group('mon')} {match.group('day')} {match.group('hms')}",
                "%Y %b %d %H:%M:%S",
            ).replace(tzinfo=UTC)
        except ValueError:
            return None
    if len(line) >= 19 and line[:4].isdigit() and line[4] == "-":
        try:
            parsed = datetime.fromisoformat(line.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


# --------------------------------------------------------------------------------------------
# Reading a transcript's sections with an ordinary reader
# --------------------------------------------------------------------------------------------


class OffsetWarner:
    """A warner for one section: line numbers within the section become line numbers in the file."""

    def __init__(self, warn: Warn, offset: int) -> None:
        self.warn = warn
        self.offset = offset

    def _line(self, line: int | None) -> int | None:
        return None if line is None else line + self.offset

    def __call__(self, message: str, line: int | None = None, *, caveat: bool = False) -> None:
        self.warn(message, self._line(line), caveat=caveat)

    def once(self, key: str, message: str, line: int | None = None, *, caveat: bool = False) -> None:
        self.warn.once(key, message, self._line(line), caveat=caveat)


def output_sections(text: str, warn: Warn) -> Iterator[tuple[int, str, Warn]]:
    """``(offset, output text, warner)`` for each command output in ``text``; the whole text (offset
    0) when it is not a transcript. Sections without output are left out."""
    if not has_markers(text):
        yield 0, text, warn
        return
    transcript = parse(text)
    if transcript.prompts == 0 and all(s.session_time is None for s in transcript.sections):
        yield 0, text, warn
        return
    for section in transcript.sections:
        if section.lines and section.text.strip():
            yield section.offset, section.text, OffsetWarner(warn, section.offset)
