"""Reader for PowerCLI ``Get-VasaProvider`` exports: vCenter's own view of its VASA providers.

Why it matters: the runbook compares what vCenter (SMS) says about a provider with what each ESXi
host says (``esxcli storage vvol vasaprovider list``). A provider online in vCenter but offline on
the source host points at host trust or network; ``syncError`` or an expiring certificate in
vCenter points at registration.

Accepted shapes (docs/evidence-formats.md §4.1): ``Export-Csv`` (with or without the ``#TYPE`` line, any
culture's delimiter and dates), and ``ConvertTo-Json`` (one object or an array, dates as ISO or
``\\/Date(ms)\\/``, enums as strings, numbers or wrapper objects). The SMS API extras
(``certificateExpiryDate``, ``certificateStatus``, ``relatedStorageArray``) are used when an
exporter included them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from vvolguard.evidence.csvrows import first_data_line, is_csv_header, iter_csv_rows
from vvolguard.evidence.dates import Dates, guess_dayfirst
from vvolguard.evidence.jsonitems import iter_json_items, looks_like_json
from vvolguard.evidence.pstext import powershell_keys, powershell_rows
from vvolguard.evidence.source import EvidenceFile
from vvolguard.evidence.textio import LineIndex, head_text, read_text
from vvolguard.evidence.transcript import output_head, output_sections
from vvolguard.evidence.values import (
    first,
    norm_dict,
    norm_key,
    parse_bool,
    parse_int,
    provider_status,
    text_of,
)
from vvolguard.evidence.warner import GuardedReader, Warn
from vvolguard.records import ArrayBinding, Citation, EvidenceKind, ProviderRecord, Record

#: What vCenter is called as an observer, so analysis can tell it from ESXi host names.
VCENTER = "vcenter"

_TYPE_LINE = re.compile(r"^#TYPE[ \t]+\S{0,200}Sms\.VasaProvider\b", re.MULTILINE | re.IGNORECASE)
_JSON_KEYS = re.compile(
    r'"(?:VasaVersion|ProviderId|LastSyncTime|Namespace|certificateExpiryDate|relatedStorageArray'
    r'|SupportedProviderProfile|vasaProviderVersion|ProviderType)"[ \t]*:',
    re.IGNORECASE,
)
_URL_KEY = re.compile(r'"url"[ \t]*:', re.IGNORECASE)
_CSV_COLUMNS = (
    {"name"},
    {"url"},
    {"status"},
    {"vasaversion"},
    {"providerid"},
    {"lastsynctime"},
    {"namespace"},
    {"providertype"},
    {"certificateexpirydate"},
)


class VasaProviderExportReader(GuardedReader):
    """``Get-VasaProvider | Export-Csv`` or ``| ConvertTo-Json`` (observer: vCenter)."""

    kind = EvidenceKind.VASA_PROVIDER_EXPORT

    def sniff(self, name: str, head: bytes) -> int:
        text = output_head(head_text(head[:65536]))
        base = norm_key(name)
        named = "vasaprovider" in base or "vasaproviders" in base or "getvasaprovider" in base
        if _TYPE_LINE.search(text):
            return 98
        score = 0
        if looks_like_json(text):
            keys = {norm_key(m.group(0)) for m in _JSON_KEYS.finditer(text)}
            if len(keys) >= 2 and _URL_KEY.search(text):
                score = 85
        elif is_csv_header(first_data_line(text), _CSV_COLUMNS, minimum=4):
            score = 85
        elif (
            (keys := powershell_keys(text))
            and "url" in keys
            and sum(1 for g in _CSV_COLUMNS if keys & g) >= 3
        ):
            score = 82  # Get-VasaProvider at a PowerCLI prompt (a table) or | Format-List *
        if score and named:
            score = 92
        return score

    def _read(self, ef: EvidenceFile, warn: Warn) -> Iterator[Record]:
        full = read_text(ef, warn)
        if full is None:
            return
        if not full.strip():
            warn("empty export")
            return
        for offset, text, section_warn in output_sections(full, warn):
            if looks_like_json(text):
                yield from self._json(ef, text, section_warn, offset)
            else:
                yield from self._csv(ef, text, section_warn, offset)

    def _json(self, ef: EvidenceFile, text: str, warn: Warn, offset: int = 0) -> Iterator[Record]:
        dates = Dates(warn, tz=ef.assume_tz)
        for line, item in iter_json_items(text, warn, LineIndex(text)):
            line += offset
            if not isinstance(item, dict):
                warn(f"JSON entry is a {type(item).__name__}, not a provider object; skipped", line)
                continue
            record = _provider(ef, norm_dict(item), line, None, dates, warn)
            if record is not None:
                yield record

    def _csv(self, ef: EvidenceFile, text: str, warn: Warn, offset: int = 0) -> Iterator[Record]:
        pasted = powershell_rows(text)  # the runbook's Format-List * / Format-Table, as pasted
        parsed = iter_csv_rows(text, warn) if pasted is None else (pasted[0], iter(pasted[1]))
        if parsed is None:
            warn("neither JSON nor a CSV header; nothing read")
            return
        header, rows = parsed
        if not {"name", "url", "id"} & {norm_key(h) for h in header}:
            warn("CSV header names none of Get-VasaProvider's columns (Name, Url, Id); nothing read", 1)
            return
        materialised = list(rows)
        dayfirst = guess_dayfirst(row.get("lastsynctime", "") for _, row, _ in materialised)
        dates = Dates(warn, dayfirst, tz=ef.assume_tz)
        for line, row, raw in materialised:
            record = _provider(ef, row, line + offset, raw, dates, warn)
            if record is not None:
                yield record


def _arrays(value: Any) -> tuple[ArrayBinding, ...]:
    """SMS ``relatedStorageArray[] {arrayId, active, manageable, priority}``."""
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    out: list[ArrayBinding] = []
    for item in items:
        d = norm_dict(item)
        array_id = text_of(first(d, "arrayid", "array", "id"))
        if array_id:
            out.append(
                ArrayBinding(
                    array_id=array_id,
                    is_active=parse_bool(first(d, "active", "isactive")),
                    priority=parse_int(d.get("priority")),
                )
            )
    return tuple(out)


def _provider(
    ef: EvidenceFile, d: dict[str, Any], line: int, cite: str | None, dates: Dates, warn: Warn
) -> ProviderRecord | None:
    """One provider; ``cite`` is the raw CSV line, or None for a JSON object, which is cited by
    the fields that matter rather than the whole object. The SMS extras may sit at the top level
    or under ``ExtensionData`` (``VasaProviderInfo``), as Get-VasaProvider objects carry them."""
    ext = norm_dict(d.get("extensiondata"))
    url = text_of(first(d, "url", "providerurl"))
    name = text_of(first(d, "name", "providername", "vpname")) or text_of(d.get("id")) or url
    if name is None:
        warn("provider entry without Name, Id or Url; skipped", line)
        return None
    raw_sync = first(d, "lastsynctime", "lastsync")
    raw_expiry = first(d, "certificateexpirydate", "certificateexpiry") or first(ext, "certificateexpirydate")
    record = ProviderRecord(
        name=name,
        url=url,
        status=provider_status(first(d, "status", "providerstatus")),
        observer=VCENTER,
        arrays=_arrays(first(d, "relatedstoragearray", "arrays") or first(ext, "relatedstoragearray")),
        version=text_of(first(d, "version", "providerversion")),
        vasa_version=text_of(first(d, "vasaversion", "vasaproviderversion", "vasaapiversion")),
        last_sync=dates(raw_sync, line, "LastSyncTime"),
        certificate_expiry=dates(raw_expiry, line, "certificate expiry"),
        certificate_status=text_of(first(d, "certificatestatus") or first(ext, "certificatestatus")),
        citation=None,
    )
    return replace(
        record,
        citation=Citation(file=ef.display, line=line, text=cite or _cite(record, raw_sync, raw_expiry)),
    )


def _cite(record: ProviderRecord, raw_sync: object, raw_expiry: object) -> str:
    """What a citation of a JSON provider object shows: ``pure-ct0 https://vp:8084 syncError ·
    sync <time> · cert <expiry> expiryHardLimitReached``, values quoted as the file writes them
    (a ``/Date(ms)/`` is shown as the UTC time it stands for)."""
    parts = [" ".join(v for v in (record.name, record.url, record.status, record.version) if v)]
    sync = _quoted(raw_sync, record.last_sync)
    if sync:
        parts.append(f"sync {sync}")
    expiry = _quoted(raw_expiry, record.certificate_expiry)
    if expiry or record.certificate_status:
        parts.append(" ".join(v for v in ("cert", expiry, record.certificate_status) if v))
    return " · ".join(parts)


def _quoted(raw: object, parsed: datetime | None) -> str | None:
    if isinstance(raw, str) and raw.strip() and "Date(" not in raw:
        return raw.strip()
    return parsed.isoformat().replace("+00:00", "Z") if parsed else None


READERS = [VasaProviderExportReader()]
