"""One file in, one small summary out: the work each Dask task does.

A worker reads the file where it lies, with the same readers ``diagnose`` uses
(:func:`vvolguard.pipeline.read_file`), and folds what it reads into a plain, JSON-able summary
that is small whatever the file's size: vvold lines become per (host, provider, 5-minute bucket)
counters, the latest ``#outstanding`` level and ceiling and a ``createVirtualVolume`` latency
histogram (the analysis's own :class:`~vvolguard.analysis.signals.SignalAccumulator` does the
folding); the sparse records (migration tasks, certificates, provider and PE views, host events)
are kept as short rows. Only this summary travels back to the client.

A file that cannot be read gives a summary with its warning: one bad file never fails a run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import polars as pl

from vvolguard.analysis.migrations import host_key
from vvolguard.analysis.model import InputFile
from vvolguard.analysis.signals import SignalAccumulator
from vvolguard.evidence.collect import Collector
from vvolguard.evidence.source import EvidenceFile
from vvolguard.fleet.files import FileRef, is_url
from vvolguard.fleet.schema import BUCKET_S, BUCKET_SCHEMA, COUNTERS
from vvolguard.records import (
    CertificateRecord,
    EvidenceSpan,
    HostLogEvent,
    HostOperation,
    MigrationTask,
    ProtocolEndpointRecord,
    ProviderEvent,
    ProviderRecord,
    ReadWarning,
    VasaFrame,
)

#: Timeline points the per-file fold may keep before widening its buckets: a file of up to ten
#: days (a syslog server rotates daily) folds at 300 s or finer; a longer single file at coarser
#: buckets, each counted in the fleet bucket it starts in. More points cost a Python loop per cell.
MAX_POINTS = 3000
#: Sparse rows kept per file and kind (a damaged or hostile file cannot grow a summary).
MAX_ROWS = 20_000


class SummarySink:
    """Folds a file's records (the ``RecordSink`` that :func:`read_file` feeds)."""

    def __init__(self) -> None:
        self.signals = SignalAccumulator(max_points=MAX_POINTS, exemplars=1)
        self.rows: dict[str, list[dict[str, Any]]] = {
            "tasks": [],
            "certificates": [],
            "providers": [],
            "pes": [],
            "host_events": [],
            "provider_events": [],
            "host_operations": [],
        }
        self.warnings: list[str] = []
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.vvold_rows = 0

    def _span(self, start: datetime | None, end: datetime | None) -> None:
        if start is not None:
            self.first = start if self.first is None else min(self.first, start)
        if end is not None:
            self.last = end if self.last is None else max(self.last, end)

    def _keep(self, kind: str, row: dict[str, Any]) -> None:
        rows = self.rows[kind]
        if len(rows) < MAX_ROWS:
            rows.append(row)

    def add(self, record: Any) -> None:
        if isinstance(record, VasaFrame):
            self.signals.add(record)
            ts = record.frame.get_column("ts")
            self.vvold_rows += record.frame.height
            self._span(ts.min(), ts.max())  # type: ignore[arg-type]  # datetimes (or None)
        elif isinstance(record, EvidenceSpan):
            self._span(record.start, record.end)
        elif isinstance(record, MigrationTask):
            self._keep(
                "tasks",
                {
                    "task_id": record.task_id,
                    "vm": record.vm,
                    "source": record.source_host,
                    "dest": record.dest_host,
                    "state": str(record.state),
                    "start": _iso(record.start),
                    "end": _iso(record.end),
                    "error": record.error,
                },
            )
        elif isinstance(record, CertificateRecord):
            self._keep(
                "certificates",
                {
                    "subject": record.subject,
                    "issuer": record.issuer,
                    "not_before": _iso(record.not_before),
                    "not_after": _iso(record.not_after),
                    "serial": record.serial,
                    "dns_names": list(record.dns_names),
                    "ip_addresses": list(record.ip_addresses),
                    "self_signed": record.self_signed,
                    "source": "certificate",
                },
            )
        elif isinstance(record, ProviderRecord):
            self._keep(
                "providers",
                {
                    "name": record.name,
                    "url": record.url,
                    "status": record.status,
                    "observer": record.observer,
                    "certificate_expiry": _iso(record.certificate_expiry),
                    "certificate_status": record.certificate_status,
                },
            )
        elif isinstance(record, ProtocolEndpointRecord):
            self._keep(
                "pes",
                {"pe_id": record.pe_id, "host": record.host, "accessible": record.accessible},
            )
        elif isinstance(record, HostLogEvent):
            self._span(record.ts, record.ts)
            self._keep(
                "host_events",
                {
                    "ts": _iso(record.ts),
                    "host": record.host,
                    "kind": str(record.kind),
                    "source": record.source,
                },
            )
        elif isinstance(record, ProviderEvent):
            self._keep(
                "provider_events",
                {
                    "ts": _iso(record.ts),
                    "kind": str(record.kind),
                    "provider": record.provider,
                    "observer": record.observer,
                },
            )
        elif isinstance(record, HostOperation):
            self._keep(
                "host_operations",
                {
                    "operation": record.operation,
                    "host": record.host,
                    "state": str(record.state),
                    "start": _iso(record.start),
                    "end": _iso(record.end),
                },
            )
        elif isinstance(record, ReadWarning):
            # caveats too: "used what was readable before the damage" is a file not fully read
            where = f"{record.file}:{record.line}" if record.line else record.file
            self.warnings.append(f"{where}: {record.message}")

    def buckets(self, host_hint: str | None) -> pl.DataFrame:
        """The file's timeline merged into fleet buckets of :data:`BUCKET_S` (a finer cell into
        the bucket it starts in), one row per host, provider and bucket
        (:data:`BUCKET_SCHEMA`): the counters summed, the most ``#outstanding`` and the ceiling,
        and the create histogram as its ``bins`` with the ``lo``/``hi`` latency.

        A frame, not rows of Python objects: a file of a year of one host is ~100k buckets, and
        the client merges the buckets of every file of the estate (:func:`.tables.buckets_table`)."""
        cells, hist = self.signals.timeline.frames()
        name = pl.coalesce(pl.when(pl.col("host") != "").then(pl.col("host")), pl.lit(host_hint), pl.lit(""))
        keys = [name.alias("host"), pl.col("vp"), ((pl.col("bucket") // BUCKET_S) * BUCKET_S).cast(pl.Int64)]
        counts = cells.group_by(keys).agg(
            *(pl.col(c).sum().cast(pl.Int64) for c in COUNTERS),
            pl.col("outstanding_max").max().cast(pl.Int64),
            pl.col("ceiling").max().cast(pl.Int64),
        )
        bins = (
            hist.group_by(*keys, "hidx")
            .agg(pl.col("n").sum(), pl.col("lo").min(), pl.col("hi").max())
            .sort("hidx")
            .group_by("host", "vp", "bucket")
            .agg(
                pl.col("lo").min().cast(pl.Float64),
                pl.col("hi").max().cast(pl.Float64),
                pl.struct(pl.col("hidx").cast(pl.Int64), pl.col("n").cast(pl.Int64)).alias("bins"),
            )
        )
        out = counts.join(bins, on=["host", "vp", "bucket"], how="left", nulls_equal=True)
        return out.select([pl.col(c).cast(t) for c, t in BUCKET_SCHEMA.items()]).sort("host", "vp", "bucket")


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def evidence_files(ref: FileRef) -> tuple[Iterator[EvidenceFile], Collector | None]:
    """The evidence in one input: a local file through the Collector (gzip, archives, bundles,
    its limits and warnings), a URL opened through fsspec."""
    if is_url(ref.path):
        import fsspec  # type: ignore[import-untyped]

        def opener() -> Any:
            return fsspec.open(ref.path, "rb").open()

        name = PurePosixPath(ref.path.split("://", 1)[1]).name
        return iter([EvidenceFile(ref.path, name, opener, host=ref.host, size=ref.size)]), None
    collector = Collector([ref.path])
    return iter(collector), collector


def read_ref(ref: FileRef, sink: Any) -> Iterator[InputFile]:
    """Read every evidence file of one input into ``sink`` as ``diagnose`` reads it (the file's
    host hint given to files that name none); the Collector's warnings go to ``sink`` too."""
    from vvolguard.pipeline import read_file

    files, collector = evidence_files(ref)
    try:
        for ef in files:
            if ef.host is None and ref.host is not None:
                ef.host = ref.host
            yield read_file(ef, sink)
    finally:
        if collector is not None:
            for warning in collector.warnings:
                sink.add(warning)
            collector.close()


def summarise(ref: FileRef) -> dict[str, Any]:
    """Read one input file and return its summary (see the module docstring)."""
    sink = SummarySink()
    kinds: list[str] = []
    hosts: set[str] = set()
    records = 0
    try:
        for got in read_ref(ref, sink):
            records += got.records
            kinds.append(got.kind)
            if got.host:
                hosts.add(got.host)
    except Exception as exc:  # one bad file is a warning, never the end of the run
        sink.warnings.append(f"{ref.path}: could not be read ({type(exc).__name__}: {exc})")
    buckets = sink.buckets(ref.host)
    hosts.update(h for h in buckets.get_column("host").unique().to_list() if h)
    for kind in ("host_events", "pes"):
        hosts.update(r["host"] for r in sink.rows[kind] if r.get("host"))
    if ref.host:
        hosts.add(ref.host)
    return {
        "path": ref.path,
        "size": ref.size,
        "host": ref.host,
        "hosts": sorted(hosts, key=host_key),
        "kinds": sorted(set(kinds)),
        "records": records,
        "vvold_lines": sink.vvold_rows,
        "first": _iso(sink.first),
        "last": _iso(sink.last),
        "buckets": buckets,
        **sink.rows,
        "warnings": list(dict.fromkeys(sink.warnings)),
        "id": hashlib.sha256(ref.path.encode()).hexdigest()[:16],
    }
