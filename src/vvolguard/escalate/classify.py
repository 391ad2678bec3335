"""Which part of the escalation package an evidence file feeds.

The readers' sniffing (``evidence.sniff``) decides what a file is, by content first. The package
needs a few more kinds that no reader parses, because they come from the storage vendor's own
tools and are only passed along: VASA provider appliance metrics, array performance exports and
array firmware/inventory listings. Those are recognised by name, and before sniffing, so a
metrics CSV is not mistaken for a task export.
"""

from __future__ import annotations

import re
from enum import StrEnum

from vvolguard.evidence.sniff import sniff
from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import EvidenceKind


class Part(StrEnum):
    VVOLD_LOG = "vvold-log"
    HOSTD_LOG = "hostd-log"
    VMKERNEL_LOG = "vmkernel-log"
    VASAPROVIDER = "esxcli-vasaprovider-list"
    PROTOCOLENDPOINT = "esxcli-protocolendpoint-list"
    STORAGECONTAINER = "esxcli-storagecontainer-list"
    TASKS = "vcenter-tasks"
    EVENTS = "vcenter-events"
    PROVIDER_EXPORT = "provider-export"
    CERTIFICATE = "certificate"
    PROVIDER_METRICS = "provider-metrics"
    ARRAY_PERFORMANCE = "array-performance"
    ARRAY_INFO = "array-info"
    GROUND_TRUTH = "ground-truth"
    UNKNOWN = "unknown"


LOGS = frozenset({Part.VVOLD_LOG, Part.HOSTD_LOG, Part.VMKERNEL_LOG})

_FROM_KIND = {
    EvidenceKind.VVOLD_LOG: Part.VVOLD_LOG,
    EvidenceKind.HOSTD_LOG: Part.HOSTD_LOG,
    EvidenceKind.VMKERNEL_LOG: Part.VMKERNEL_LOG,
    EvidenceKind.VASAPROVIDER_LIST: Part.VASAPROVIDER,
    EvidenceKind.PROTOCOLENDPOINT_LIST: Part.PROTOCOLENDPOINT,
    EvidenceKind.STORAGECONTAINER_LIST: Part.STORAGECONTAINER,
    EvidenceKind.VCENTER_TASKS: Part.TASKS,
    EvidenceKind.VCENTER_EVENTS: Part.EVENTS,
    EvidenceKind.VASA_PROVIDER_EXPORT: Part.PROVIDER_EXPORT,
    EvidenceKind.CERTIFICATE: Part.CERTIFICATE,
    EvidenceKind.GROUND_TRUTH: Part.GROUND_TRUTH,
}

_METRICS_NAME = re.compile(r"(?i)perf|metric|stats|latenc|iops|queue|cpu|mem(?:ory)?[^a-z]")
_PROVIDER_NAME = re.compile(r"(?i)vasa|provider|(?<![a-z])vp(?![a-z])|appliance")
_ARRAY_INFO_NAME = re.compile(r"(?i)firmware|array[-_ ]?(?:info|inventory|version)|purearray|purity|ontap")

#: Names and first bytes the reader modules may not claim yet, as a fallback.
_NAME_RULES: tuple[tuple[re.Pattern[str], Part], ...] = (
    (re.compile(r"(?i)vvold"), Part.VVOLD_LOG),
    (re.compile(r"(?i)storage-vvol-vasaprovider|vasaprovider[-_ ]?list"), Part.VASAPROVIDER),
    (re.compile(r"(?i)protocolendpoint"), Part.PROTOCOLENDPOINT),
    (re.compile(r"(?i)storagecontainer"), Part.STORAGECONTAINER),
    (re.compile(r"(?i)hostd"), Part.HOSTD_LOG),
    (re.compile(r"(?i)vmkernel|vmkwarning"), Part.VMKERNEL_LOG),
    (re.compile(r"(?i)\.(?:pem|crt|cer)$"), Part.CERTIFICATE),
)
_CONTENT_RULES: tuple[tuple[re.Pattern[str], Part], ...] = (
    (re.compile(r"-----BEGIN CERTIFICATE-----"), Part.CERTIFICATE),
    (re.compile(r"vvold\[\d+\]|VVold\[\d+\]:"), Part.VVOLD_LOG),
    (re.compile(r"(?m)^VP Name:"), Part.VASAPROVIDER),
    (re.compile(r"(?m)^[ \t]+Lun Id:"), Part.PROTOCOLENDPOINT),  # [ \t]: \s+ would span lines (quadratic)
)


def is_binary(head: bytes) -> bool:
    """Text evidence has no NUL bytes and decodes mostly as UTF-8; junk does not."""
    if not head:
        return False
    if b"\x00" in head[:4096]:
        return True
    sample = head[:4096].decode("utf-8", "replace")
    return sample.count("\ufffd") > len(sample) // 20


def classify(ef: EvidenceFile) -> Part:
    """The package part for ``ef``; never raises (a failing sniffer leaves a warning on ``ef``)."""
    name = ef.name
    if _METRICS_NAME.search(name) and not _NAME_RULES[0][0].search(name):
        return Part.PROVIDER_METRICS if _PROVIDER_NAME.search(name) else Part.ARRAY_PERFORMANCE
    if _ARRAY_INFO_NAME.search(name):
        return Part.ARRAY_INFO
    head = ef.head()
    try:
        sniff(ef, head)
    except Exception as exc:  # a reader bug must not lose the file from the package
        ef.warn(f"internal: sniffing failed ({type(exc).__name__}: {exc})")
    part = _FROM_KIND.get(ef.kind)
    if part is not None:
        return part
    if is_binary(head):
        return Part.UNKNOWN
    text = head.decode("utf-8", "replace")
    for pattern, part in _CONTENT_RULES:
        if pattern.search(text):
            return part
    for pattern, part in _NAME_RULES:
        if pattern.search(name):
            return part
    return Part.UNKNOWN
