"""Memory bound of the signal fold whatever the content (issue #17): provider names come from the
log, so a log naming thousands of them must not grow one series per name; they are still
counted, under one "(other providers)" series."""

from __future__ import annotations

from vvolguard.analysis.signals import OTHER_PROVIDERS, PROVIDERS_PER_HOST_CAP, SignalAccumulator
from vvolguard.evidence.source import from_bytes
from vvolguard.evidence.vvold import VvoldReader
from vvolguard.records import VasaFrame


def test_provider_names_from_content_are_capped_per_host() -> None:
    lines = "".join(
        f"2024-03-14T10:{n // 60 % 60:02d}:{n % 60:02d}.000Z warning vvold[1] [Originator@6876 sub=Default] "
        f"VasaSession::GetFreeConn: No free connections to VP vp-{n} (url: https://10.0.0.1/vasa)\n"
        for n in range(1000)
    )
    acc = SignalAccumulator()
    for record in VvoldReader().read(from_bytes("vvold.log", lines.encode(), host="esx01")):
        if isinstance(record, VasaFrame):
            acc.add(record)
    assert len(acc.series) == PROVIDERS_PER_HOST_CAP + 1
    assert acc.series[("esx01", OTHER_PROVIDERS)].counts["no_free_conn"] == 1000 - PROVIDERS_PER_HOST_CAP
    assert sum(s.counts["no_free_conn"] for s in acc.series.values()) == 1000
