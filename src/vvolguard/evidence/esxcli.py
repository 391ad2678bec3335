"""Readers for ``esxcli storage vvol {vasaprovider,protocolendpoint,storagecontainer} list``.

Why all formatters: admins paste the default text output, vm-support bundles carry both
``commands/localcli_storage-vvol-*.txt`` and the ``json/`` twin, and scripts use
``--formatter=json|xml|csv``. Every shape is first turned into the same neutral entry (a dict with
normalised keys, see :func:`values.norm_key`), so the text and JSON of one host give equal
records by construction (docs/evidence-formats.md §2).

Per-host view: the records carry the host the file belongs to (``ef.host``), because a provider
that is online on one host and offline on another is a finding in itself.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vvolguard.evidence import transcript
from vvolguard.evidence.csvrows import first_data_line, is_csv_header, iter_csv_rows
from vvolguard.evidence.dates import naive_time_message
from vvolguard.evidence.hostnames import BUNDLE_NAME, host_from_text
from vvolguard.evidence.jsonitems import cite_text, iter_json_items, looks_like_json
from vvolguard.evidence.pstext import powershell_rows
from vvolguard.evidence.source import EvidenceFile
from vvolguard.evidence.textio import LineIndex, head_text, read_text
from vvolguard.evidence.values import first, norm_key, parse_bool, parse_int, provider_status, text_of
from vvolguard.evidence.warner import GuardedReader, Warn
from vvolguard.records import (
    ArrayBinding,
    Citation,
    EvidenceKind,
    EvidenceSpan,
    ProtocolEndpointRecord,
    ProviderRecord,
    Record,
    StorageContainerRecord,
)

#: Longest plausible field name in esxcli text output ("StorageContainer Name" is 21).
MAX_KEY = 60


@dataclass
class Entry:
    """One esxcli record in neutral form, whatever formatter printed it."""

    line: int
    cite: str
    fields: dict[str, Any] = field(default_factory=dict)  # normalised key -> str | list
    title: str | None = None


# --------------------------------------------------------------------------------------------
# Default text formatter (docs/evidence-formats.md §2.2)
# --------------------------------------------------------------------------------------------


def _split_field(stripped: str) -> tuple[str, str] | None:
    """``Key: value`` -> (key, value); a colon inside a value (``https://h:8084``) is not a key."""
    cut = stripped.find(": ")
    if cut < 0:
        if stripped.endswith(":") and ":" not in stripped[:-1]:
            key, value = stripped[:-1], ""
        else:
            return None
    else:
        key, value = stripped[:cut], stripped[cut + 2 :]
    key = key.strip()
    if not key or len(key) > MAX_KEY or not _KEY_CHARS.fullmatch(key):
        return None
    return key, value.strip()


_KEY_CHARS = re.compile(r"[A-Za-z][A-Za-z0-9 ()/_.#-]*")
_JUNK = re.compile(r"[\x00-\x08\x0e-\x1f\ufffd]")


class _TextParser:
    """Blocks of the esxcli text formatter: a depth-0 line starts a record (``Key: value`` as its
    first field, or a bare title), fields are indented, nested lists are indented further."""

    def __init__(self, warn: Warn) -> None:
        self.warn = warn
        self.entry: Entry | None = None
        self.field_indent: int | None = None
        self.list_key: str | None = None
        self.element: dict[str, Any] | None = None
        self.gap = False
        self.orphan_warned = False
        self.skipping = False  # after an unreadable record start, until the next record

    def feed(self, lines: Iterator[tuple[int, str]]) -> Iterator[Entry]:
        for number, raw in lines:
            line = raw.rstrip()
            if "\xa0" in line:
                # pasted through Outlook or Teams, the indent's spaces come as no-break spaces
                # (HTML's &nbsp;): the fields would all read as record starts
                line = line.replace("\xa0", " ")
            if not line.strip():
                self.gap = True
                continue
            expanded = line.expandtabs(8)
            indent = len(expanded) - len(expanded.lstrip(" "))
            stripped = expanded.strip()
            junk = bool(_JUNK.search(stripped)) or len(stripped) > 4000
            if indent == 0:
                done = self._finish()
                if done is not None:
                    yield done
                self._start(number, stripped, junk)
            else:
                self._field(number, indent, stripped, junk)
            self.gap = False
        done = self._finish()
        if done is not None:
            yield done

    def _start(self, number: int, stripped: str, junk: bool) -> None:
        self.field_indent = None
        self.list_key = None
        self.element = None
        self.skipping = junk
        if junk:
            self.warn("unreadable line where a record should start; skipped up to the next record", number)
            self.entry = None
            return
        kv = _split_field(stripped)
        self.entry = Entry(line=number, cite=stripped)
        if kv is None:
            self.entry.title = stripped
        else:
            self.entry.fields[norm_key(kv[0])] = kv[1]

    def _field(self, number: int, indent: int, stripped: str, junk: bool) -> None:
        entry = self.entry
        if entry is None:
            if not self.orphan_warned and not self.skipping:
                self.warn("indented line outside any record; ignored", number)
                self.orphan_warned = True
            return
        if junk:
            self.warn(f"unreadable line in the record that starts at line {entry.line}; ignored", number)
            return
        if self.field_indent is None:
            self.field_indent = indent
        kv = _split_field(stripped)
        if indent <= self.field_indent:
            self.list_key = None
            self.element = None
            if kv is None:
                self.warn(
                    f"no 'Key: value' on this line of the record at line {entry.line}; ignored",
                    number,
                )
                return
            key = norm_key(kv[0])
            entry.fields[key] = kv[1]
            self.list_key = key
            return
        # deeper: an item of the list held by the last field
        list_key = self.list_key
        if list_key is None:
            self.warn(f"unexpected indentation in the record at line {entry.line}; ignored", number)
            return
        current = entry.fields[list_key]  # set together with list_key
        if isinstance(current, str):
            current = [current] if current else []
            entry.fields[list_key] = current
        if kv is None:
            current.append(stripped)
            self.element = None
            return
        name = norm_key(kv[0])
        if self.element is None or self.gap or name in self.element:
            self.element = {}
            current.append(self.element)
        self.element[name] = kv[1]

    def _finish(self) -> Entry | None:
        entry, self.entry = self.entry, None
        if entry is None or (not entry.fields and entry.title is None):
            return None
        return entry


def text_entries(text: str, warn: Warn) -> Iterator[Entry]:
    lines = ((i + 1, line) for i, line in enumerate(text.split("\n")))
    yield from _TextParser(warn).feed(lines)


# --------------------------------------------------------------------------------------------
# JSON (--formatter=json and the bundle's json/ twins), CSV and XML formatters
# --------------------------------------------------------------------------------------------


def _neutral(value: Any) -> Any:
    """JSON values in the same shape the text parser produces (dicts with normalised keys)."""
    if isinstance(value, dict):
        return {norm_key(k): _neutral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_neutral(v) for v in value]
    return value


def json_entries(text: str, warn: Warn) -> Iterator[Entry]:
    index = LineIndex(text)
    for line, item in iter_json_items(text, warn, index):
        if not isinstance(item, dict):
            warn(f"JSON entry is a {type(item).__name__}, not an object; skipped", line)
            continue
        yield Entry(line=line, cite=cite_text(item), fields=_neutral(item))


def csv_entries(text: str, warn: Warn) -> Iterator[Entry]:
    parsed = iter_csv_rows(text, warn)
    if parsed is None:
        warn("no CSV header found")
        return
    _, rows = parsed
    for line, row, raw in rows:
        yield Entry(line=line, cite=raw, fields={k: v for k, v in row.items() if v != ""})


class _Field:
    __slots__ = ("name", "value")

    def __init__(self, name: str) -> None:
        self.name = name
        self.value: Any = None


class _Scalar:
    __slots__ = ("parts", "tag")

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.parts: list[str] = []


class _XmlBuilder:
    """esxcli ``--formatter=xml``: ``<list><structure><field name=..><string>..`` to dicts.

    expat (not ElementTree) so each record keeps the line it starts on.
    """

    SCALARS = frozenset({"string", "boolean", "integer", "long", "int", "double", "float"})
    CONTAINERS = frozenset({"structure", "list", "field"})

    def __init__(self) -> None:
        self.stack: list[Any] = []  # dict (structure) | list | _Field | _Scalar
        self.entries: list[Entry] = []
        self.starts: list[int] = []
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.chars

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        tag = tag.rsplit(":", 1)[-1]
        if tag == "structure":
            self.stack.append({})
            self.starts.append(self.parser.CurrentLineNumber)
        elif tag == "list":
            self.stack.append([])
        elif tag == "field":
            self.stack.append(_Field(norm_key(attrs.get("name", ""))))
        elif tag in self.SCALARS:
            self.stack.append(_Scalar(tag))

    def chars(self, data: str) -> None:
        if self.stack and isinstance(self.stack[-1], _Scalar):
            self.stack[-1].parts.append(data)

    def end(self, tag: str) -> None:
        tag = tag.rsplit(":", 1)[-1]
        if (tag not in self.CONTAINERS and tag not in self.SCALARS) or not self.stack:
            return
        node = self.stack.pop()
        if isinstance(node, _Scalar):
            raw = "".join(node.parts).strip()
            value: Any = raw
            if node.tag == "boolean":
                value = parse_bool(raw)
            elif node.tag in ("integer", "long", "int"):
                value = parse_int(raw)
            self._attach(value)
        elif isinstance(node, _Field):
            if self.stack and isinstance(self.stack[-1], dict) and node.name:
                self.stack[-1][node.name] = node.value
        elif isinstance(node, dict):
            line = self.starts.pop() if self.starts else 0
            if not any(isinstance(n, dict) for n in self.stack):
                self.entries.append(Entry(line=line, cite=cite_text(node), fields=node))
            else:
                self._attach(node)
        else:
            self._attach(node)

    def _attach(self, value: Any) -> None:
        if not self.stack:
            return
        parent = self.stack[-1]
        if isinstance(parent, _Field):
            parent.value = value
        elif isinstance(parent, list):
            parent.append(value)


def xml_entries(text: str, warn: Warn) -> Iterator[Entry]:
    builder = _XmlBuilder()
    try:
        builder.parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as exc:
        warn(
            f"XML is damaged or cut off ({xml.parsers.expat.errors.messages.get(exc.code, exc)}); "
            "records before this point were used",
            exc.lineno,
        )
    except RecursionError:
        warn("XML nested too deeply; records before this point were used")
    yield from builder.entries


#: A line of esxcli's ``--formatter=keyvalue``: ``<Struct>.<Field>.<type>=<value>``, a list
#: item's field as ``<Struct>.<Field>.list[<n>].<ItemField>.<type>=`` and a list of strings as
#: ``<Struct>.<Field>.string[<n>]=`` (field names are the display names without spaces).
_KEYVALUE = re.compile(
    r"^([A-Za-z]\w{0,63})\.([A-Za-z]\w{0,63})(?:\.\w{1,16}\[(\d{1,6})\]\.([A-Za-z]\w{0,63}))?\.\w{1,16}"
    r"(?:\[(\d{1,6})\])?=(.*)$"
)


def _looks_like_keyvalue(text: str) -> bool:
    """Two of the first lines are ``Struct.Field.type=value`` lines."""
    hits = 0
    for line in text.lstrip().split("\n", 40)[:40]:
        if _KEYVALUE.match(line.strip()):
            hits += 1
            if hits >= 2:
                return True
    return False


def keyvalue_entries(text: str, warn: Warn) -> Iterator[Entry]:
    """Records of ``esxcli --formatter=keyvalue``: one ``Struct.Field.type=value`` line per field,
    records one after the other; a field seen again starts the next record. Why: scripts that
    loop over hosts use it (one line per field greps well), and admins paste its output."""
    entry: Entry | None = None
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        m = _KEYVALUE.match(line)
        if m is None:
            warn("line not in esxcli keyvalue form (Struct.Field.type=value); ignored", number)
            continue
        _struct, name, item, item_field, index, value = m.groups()
        key = norm_key(name)
        if entry is None or _seen(entry.fields.get(key), item, item_field, index):
            if entry is not None:
                yield entry
            entry = Entry(line=number, cite=line)
        if item is not None:  # a field of the n-th item of a list of structures
            items = entry.fields.setdefault(key, [])
            if not isinstance(items, list):
                items = entry.fields[key] = []
            while len(items) <= int(item):
                items.append({})
            if isinstance(items[int(item)], dict):
                items[int(item)][norm_key(item_field)] = value.strip()
        elif index is not None:  # a list of strings
            strings = entry.fields.setdefault(key, [])
            if isinstance(strings, list):
                strings.append(value.strip())
        else:
            entry.fields[key] = value.strip()
            if key in ("status", "accessible"):  # the line a finding about the record quotes
                entry.line, entry.cite = number, line
    if entry is not None:
        yield entry


def _seen(existing: Any, item: str | None, item_field: str | None, index: str | None) -> bool:
    """Whether a keyvalue line's field is already set in the record: then it starts the next one."""
    if existing is None:
        return False
    if item is not None:  # the n-th item of a list of structures and one of its fields
        n = int(item)
        return (
            isinstance(existing, list)
            and len(existing) > n
            and isinstance(existing[n], dict)
            and norm_key(item_field or "") in existing[n]
        )
    return index in (None, "0")  # a plain field, or a list of strings starting again


#: PowerShell's rendering of a nested list of objects: ``{@{ArrayId=x; IsActive=true}, @{...}}``.
_PS_OBJECT = re.compile(r"@\{([^{}]{0,2000})\}")
#: The fields that say a PowerShell object is one of the vvol lists (Get-EsxCli -V2 names them
#: as esxcli's keyvalue formatter does: the display names without spaces).
_PS_LIST_KEYS = frozenset({"vpname", "lunid", "storagecontainername", "storagecontainers"})


def _ps_value(value: str) -> Any:
    """A PowerShell-rendered value: ``{@{k=v; ...}, ...}`` becomes a list of dicts, ``{a, b}`` a
    list of strings, anything else the string as it is."""
    objects = _PS_OBJECT.findall(value)
    if objects:
        out = []
        for body in objects:
            pairs = (part.split("=", 1) for part in body.split(";") if "=" in part)
            out.append({norm_key(k): v.strip() for k, v in pairs})
        return out
    if value.startswith("{") and value.endswith("}"):
        return [v.strip() for v in value[1:-1].split(",") if v.strip()]
    return value


def powershell_entries(text: str) -> list[Entry] | None:
    """``Get-EsxCli -V2`` output (``$esxcli.storage.vvol.vasaprovider.list.Invoke()``) as the
    PowerShell console prints it (Format-List, or Format-Table); None when the text is not one.
    Why: PowerCLI users without SSH to the hosts collect esxcli this way."""
    parsed = powershell_rows(text)
    if parsed is None or not _PS_LIST_KEYS & {norm_key(k) for k in parsed[0]}:
        return None
    entries: list[Entry] = []
    for line, row, raw in parsed[1]:
        fields = {key: _ps_value(value) for key, value in row.items()}
        cite = raw or " · ".join(f"{k}: {v}" for k, v in row.items() if v and not v.startswith("{"))
        entries.append(Entry(line=line, cite=cite, fields=fields))
    return entries


def entries(text: str, warn: Warn) -> Iterator[Entry]:
    """Pick the formatter from the content, not the file name (files get renamed)."""
    stripped = text.lstrip()
    pasted = None if stripped.startswith(("[", "{", "<")) else powershell_entries(text)
    if pasted is not None:
        yield from pasted
    elif _looks_like_keyvalue(text):
        yield from keyvalue_entries(text, warn)
    elif looks_like_json(text):
        yield from json_entries(text, warn)
    elif stripped.startswith("<"):
        yield from xml_entries(text, warn)
    elif _looks_like_csv(text):
        yield from csv_entries(text, warn)
    else:
        yield from text_entries(text, warn)


_CSV_COLUMNS = (
    {"vpname"},
    {"url"},
    {"status"},
    {"arrays", "arrayid"},
    {"lunid"},
    {"hostid"},
    {"storagecontainers"},
    {"storagecontainername"},
    {"uuid"},
    {"accessible"},
    {"configured"},
    {"array"},
)


def _looks_like_csv(text: str) -> bool:
    header = first_data_line(text)
    return ": " not in header and "," in header and is_csv_header(header, _CSV_COLUMNS)


# --------------------------------------------------------------------------------------------
# Entries -> records
# --------------------------------------------------------------------------------------------


def _citation(ef: EvidenceFile, entry: Entry) -> Citation:
    return Citation(file=ef.display, line=entry.line, text=entry.cite)


def _records(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def _array_binding(d: dict[str, Any]) -> ArrayBinding | None:
    array_id = text_of(first(d, "arrayid", "array", "id"))
    if array_id is None:
        return None
    return ArrayBinding(
        array_id=array_id,
        is_active=parse_bool(first(d, "isactive", "active")),
        priority=parse_int(d.get("priority")),
    )


def _fieldless(entry: Entry, warn: Warn) -> bool:
    """A bare line with no fields under it is not an esxcli record (stray text, junk)."""
    if entry.fields:
        return False
    warn("line not in esxcli list form (no fields follow it); ignored", entry.line)
    return True


def provider_record(
    ef: EvidenceFile, entry: Entry, warn: Warn, host: str | None = None
) -> ProviderRecord | None:
    f = entry.fields
    if _fieldless(entry, warn):
        return None
    name = text_of(first(f, "vpname", "name", "providername")) or entry.title
    if name is None:
        warn("VASA provider record without a name (no 'VP Name'); skipped", entry.line)
        return None
    arrays = [b for b in (_array_binding(d) for d in _records(f.get("arrays"))) if b is not None]
    if not arrays and first(f, "arrayid") is not None:  # a flat row (CSV formatter)
        flat = _array_binding(f)
        arrays = [flat] if flat else []
    return ProviderRecord(
        name=name,
        url=text_of(first(f, "url", "vpurl", "providerurl")),
        status=provider_status(first(f, "status", "vpstatus", "providerstatus")),
        observer=host or ef.host,
        arrays=tuple(arrays),
        version=text_of(first(f, "version", "vpversion")),
        vasa_version=text_of(first(f, "vasaversion", "vasaapiversion")),
        citation=_citation(ef, entry),
    )


_SPLIT_CONTAINERS = re.compile(r"[,;\s]+")


def _containers(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(p for p in _SPLIT_CONTAINERS.split(value) if p)
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            if isinstance(item, dict):
                item = first(item, "uuid", "id", "storagecontainerid", "name")
            text = text_of(item)
            if text:
                out.extend(p for p in _SPLIT_CONTAINERS.split(text) if p)
        return tuple(out)
    return ()


def protocol_endpoint_record(
    ef: EvidenceFile, entry: Entry, warn: Warn, host: str | None = None
) -> ProtocolEndpointRecord | None:
    f = entry.fields
    if _fieldless(entry, warn):
        return None
    remote_host = text_of(f.get("remotehost"))
    remote_share = text_of(f.get("remoteshare"))
    nfs_id = f"{remote_host}:{remote_share}" if remote_host and remote_share else None
    pe_id = (
        entry.title
        or text_of(first(f, "identifier", "protocolendpoint", "peid", "pe", "device", "hostid", "lunid"))
        or nfs_id
    )
    if pe_id is None:
        warn("protocol endpoint record without an identifier; skipped", entry.line)
        return None
    return ProtocolEndpointRecord(
        pe_id=pe_id,
        host=host or ef.host,
        array_id=text_of(first(f, "arrayid", "array")),
        pe_type=text_of(first(f, "type", "petype", "protocolendpointtype")),
        accessible=parse_bool(first(f, "accessible", "isaccessible")),
        configured=parse_bool(first(f, "configured", "isconfigured")),
        lun_id=text_of(first(f, "lunid", "lun")),
        storage_containers=_containers(first(f, "storagecontainers", "storagecontainer", "containers")),
        citation=_citation(ef, entry),
    )


def storage_container_record(
    ef: EvidenceFile, entry: Entry, warn: Warn, host: str | None = None
) -> StorageContainerRecord | None:
    f = entry.fields
    if _fieldless(entry, warn):
        return None
    name = text_of(first(f, "storagecontainername", "name", "containername")) or entry.title
    uuid = text_of(first(f, "uuid", "storagecontainerid", "containerid", "id"))
    if name is None and uuid is None:
        warn("storage container record without a name or UUID; skipped", entry.line)
        return None
    return StorageContainerRecord(
        name=name or uuid or "",
        uuid=uuid,
        host=host or ef.host,
        array_id=text_of(first(f, "array", "arrayid")),
        accessible=parse_bool(first(f, "accessible", "isaccessible")),
        citation=_citation(ef, entry),
    )


# --------------------------------------------------------------------------------------------
# Readers and sniffing
# --------------------------------------------------------------------------------------------

Builder = Callable[[EvidenceFile, Entry, Warn, str | None], Record | None]


@dataclass(frozen=True)
class EsxcliListReader(GuardedReader):
    """One ``esxcli storage vvol <namespace> list`` output, in any formatter, or a terminal
    paste of several of them (each section read by the parser of the command its prompt names)."""

    kind: EvidenceKind
    name_token: str  # e.g. "vasaprovider" in localcli_storage-vvol-vasaprovider-list.txt
    markers: tuple[re.Pattern[str], ...]  # content that only this list prints
    build: Builder

    def sniff(self, name: str, head: bytes) -> int:
        text = head_text(head[:65536])
        if "\x1b" in text:
            text = transcript.ANSI.sub("", text)
        pasted = transcript.parsed_head(text)
        if pasted is not None:
            commands = [
                ns for s in pasted.sections if (ns := transcript.vvol_namespace(s.command)) in BY_TOKEN
            ]
            if commands:
                return 96 if commands[0] == self.name_token else 90 if self.name_token in commands else 0
            text = "\n".join(s.text for s in pasted.sections if s.lines)
        content = any(m.search(text) for m in self.markers)
        base = norm_key(name)
        named = self.name_token in base
        cli = named and ("localcli" in base or "esxcli" in base or "storagevvol" in base)
        if content:
            return 95 if named else 85
        if not text.strip() and named:  # an empty list is still that list (a host with none)
            return 70 if cli else 50
        if _LOG_LINE.match(text.lstrip("\ufeff")):
            return 0  # a log (vvold, hostd) whatever its name says
        if cli:
            return 55
        return 25 if named else 0

    def _read(self, ef: EvidenceFile, warn: Warn) -> Iterator[Record]:
        text = read_text(ef, warn)
        if text is None:
            return
        pasted = transcript.parse(text) if transcript.has_markers(text) else None
        if pasted is None or (pasted.prompts == 0 and all(s.session_time is None for s in pasted.sections)):
            if "\x1b" in text:  # colour codes of a `| tee` or a terminal copy without its prompt
                text = transcript.ANSI.sub("", text)
            yield from self._records(ef, text, warn, ef.host)
            when = bundle_time(ef.display)
            if when is not None:
                yield EvidenceSpan(file=ef.display, host=ef.host, kind=self.kind, start=when, end=when)
            return
        yield from _read_transcript(self, ef, pasted, warn)

    def _records(self, ef: EvidenceFile, text: str, warn: Warn, host: str | None) -> Iterator[Record]:
        for entry in entries(text, warn):
            record = self.build(ef, entry, warn, host)
            if record is not None:
                yield record


def _read_transcript(
    default: EsxcliListReader, ef: EvidenceFile, pasted: transcript.Transcript, warn: Warn
) -> Iterator[Record]:
    """Every esxcli vvol list in a terminal paste, each with the host and time its prompt gives.

    Output before the first prompt (a paste that starts below the command line, ending with the
    next prompt) is read as the list the file was sniffed as. Other commands are skipped, except
    ``esxcli system hostname get`` / ``hostname`` (the host's full name) and ``date`` /
    ``esxcli system time get`` (when the snapshot was taken).
    """
    prompt_hosts = pasted.hosts()
    fqdn: dict[str, str] = {}
    clock: datetime | None = None
    for section in pasted.sections:
        if transcript.is_hostname_command(section.command) and section.lines:
            full = host_from_text(section.text)
            if full and section.host:
                fqdn[section.host.lower()] = full
        elif transcript.is_time_command(section.command) and clock is None:
            clock = transcript.time_output(section.text)
    read_any = False
    for section in pasted.sections:
        namespace = transcript.vvol_namespace(section.command)
        if section.command is None:
            reader = default
        elif namespace in BY_TOKEN:
            reader = BY_TOKEN[namespace]
        else:
            continue
        command = transcript.esxcli_command(section.command)
        host = ef.host or (command.server if command else None) or section.host
        if host is None and section.command is None and prompt_hosts:
            host = prompt_hosts[0]  # a paste that starts with output and ends with a prompt
        host = fqdn.get(host.lower(), host) if host else None
        section_warn = transcript.OffsetWarner(warn, section.offset)
        if section.command is None and not section.text.strip():
            continue
        read_any = True
        for record in reader._records(ef, section.text, section_warn, host):
            if isinstance(record, ProviderRecord | ProtocolEndpointRecord | StorageContainerRecord):
                record = _shift(record, section.offset)
            yield record
        when = clock or _session_time(ef, section, warn) or bundle_time(ef.display)
        if when is not None:
            yield EvidenceSpan(file=ef.display, host=host, kind=reader.kind, start=when, end=when)
    if not read_any:
        warn("terminal paste holds no esxcli storage vvol list output")


def _shift(record: Record, offset: int) -> Record:
    """Line numbers of a section's records, counted in the whole file."""
    from dataclasses import replace

    citation = getattr(record, "citation", None)
    if citation is None or not offset or citation.line is None:
        return record
    # every record type has a citation field, which mypy cannot see through the Record union
    shifted = Citation(citation.file, citation.line + offset, citation.text)
    return replace(record, citation=shifted)  # type: ignore[arg-type]


def _session_time(ef: EvidenceFile, section: transcript.Section, warn: Warn) -> datetime | None:
    """The PuTTY (or PowerShell transcript) header's time: the analyst's clock, zone unknown."""
    if section.session_time is None:
        return None
    warn.once("naive-time", naive_time_message(ef.assume_tz), section.session_line, caveat=True)
    return section.session_time.replace(tzinfo=ef.assume_tz or UTC).astimezone(UTC)


def bundle_time(display: str) -> datetime | None:
    """When the vm-support bundle a file came from was taken (``esx-host-2026-03-14--10.22-pid``);
    ESXi keeps UTC, so the name's time is UTC."""
    for part in re.split(r"[/!\\]", display)[:-1]:
        base = part
        for suffix in (".tgz", ".tar.gz", ".tar", ".zip"):
            if base.lower().endswith(suffix):
                base = base[: -len(suffix)]
                break
        match = BUNDLE_NAME.match(base) if len(base) < 512 else None
        if match:
            try:
                return datetime.strptime(
                    f"{match.group('date')} {match.group('time')}", "%Y-%m-%d %H.%M"
                ).replace(tzinfo=UTC)
            except ValueError:
                return None
    return None


_LOG_LINE = re.compile(r"(?:\d{1,12}:)?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _markers(*patterns: str) -> tuple[re.Pattern[str], ...]:
    """Content markers. Line-start patterns use ``[ \\t]`` (never ``\\s``, which also matches
    newlines and made ``^\\s+Lun ?Id:`` quadratic on a file of blank lines)."""
    return tuple(re.compile(p, re.MULTILINE | re.IGNORECASE) for p in patterns)


#: A CSV header cell list before the wanted column: cells without commas, bounded (linear).
_CSV_PREFIX = r'^(?:"?[\w ]{0,64}"?,){0,32}'

VASAPROVIDER_READER = EsxcliListReader(
    kind=EvidenceKind.VASAPROVIDER_LIST,
    name_token="vasaprovider",
    markers=_markers(
        r"^[ \t]*VP ?Name:",
        r'"VP ?Name"[ \t]*:',
        r'name="VPName"',
        _CSV_PREFIX + r'"?VP ?Name"?(?:,|$)',
        r"^[ \t]*\w{1,64}\.VPName\.string=",  # --formatter=keyvalue
        r"^VPName {0,40}: ",  # Get-EsxCli -V2, Format-List
    ),
    build=provider_record,
)
PROTOCOLENDPOINT_READER = EsxcliListReader(
    kind=EvidenceKind.PROTOCOLENDPOINT_LIST,
    name_token="protocolendpoint",
    markers=_markers(
        r"^[ \t]+Lun ?Id:",
        r"^[ \t]+Storage ?Containers:",
        r'"Lun ?Id"[ \t]*:',
        r'"Storage ?Containers"[ \t]*:',
        r'name="(?:LunId|StorageContainers)"',
        _CSV_PREFIX + r'"?Lun ?Id"?(?:,|$)',
        r"^[ \t]*\w{1,64}\.LunId\.string=",
        r"^LunId {0,40}: ",
    ),
    build=protocol_endpoint_record,
)
STORAGECONTAINER_READER = EsxcliListReader(
    kind=EvidenceKind.STORAGECONTAINER_LIST,
    name_token="storagecontainer",
    markers=_markers(
        r"^[ \t]*StorageContainer ?Name:",
        r'"StorageContainer ?Name"[ \t]*:',
        r'name="StorageContainerName"',
        _CSV_PREFIX + r'"?StorageContainer ?Name"?(?:,|$)',
        r"^[ \t]*\w{1,64}\.StorageContainerName\.string=",
        r"^StorageContainerName {0,40}: ",
    ),
    build=storage_container_record,
)

READERS = [VASAPROVIDER_READER, PROTOCOLENDPOINT_READER, STORAGECONTAINER_READER]
BY_TOKEN = {reader.name_token: reader for reader in READERS}
