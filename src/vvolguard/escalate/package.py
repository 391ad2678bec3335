"""Build the escalation archive: evidence in, one ``.zip`` or ``.tar.gz`` for the vendor out.

The steps, and why they are in this order:

1. Diagnose the inputs (the same pipeline as ``vvolguard diagnose``): failed tasks give the times
   the log excerpts are cut around, and the diagnosis itself goes into the package.
2. Stream every input once and stage what the package needs in a private temporary folder:
   log windows around each failure, copies of the small structured files (esxcli outputs, task
   exports, provider exports), certificate summaries. Secrets are stripped on the way in, so no
   secret ever lands on disk, even in the staging folder.
3. Judge the runbook's escalation list against what was staged (``manifest``) and write the
   README: both name what is missing and how to collect it.
4. With ``redact``: collect every host name, address and user name from the structured evidence
   and from all staged text, assign aliases, and only then rewrite every file and member name, so
   one identifier has one alias everywhere. The diagnosis is re-rendered from a pseudonymised copy
   of the Diagnosis, so the JSON and the summary name the same aliases as the excerpts.
5. Write the archive to a temporary name beside the output and rename it into place: a failed
   run never leaves half an archive. The mapping (original -> alias) is written beside it, never
   inside.

The user's input files are only ever opened for reading.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from vvolguard.analysis.model import Diagnosis
from vvolguard.escalate.archive import commit, write_archive, write_mapping
from vvolguard.escalate.excerpts import Anchor, short_host
from vvolguard.escalate.manifest import Inventory, evaluate, manifest_document
from vvolguard.escalate.names import printable, safe_component
from vvolguard.escalate.readme import render_readme
from vvolguard.escalate.redact import Pseudonymizer
from vvolguard.escalate.secrets import strip_line
from vvolguard.escalate.stage import PathNamer, stage_inputs, write_text
from vvolguard.evidence.source import Limits

#: Output suffix -> archive format.
FORMATS = {".zip": "zip", ".tar.gz": "tar.gz", ".tgz": "tar.gz"}
MAPPING_SUFFIX = ".redaction-map.json"


class EscalateError(Exception):
    """A problem with the request itself (output path, format): reported, nothing written."""


@dataclass
class PackageResult:
    """``manifest`` is the one inside the archive (aliases when redacted); ``local_manifest`` names
    the real hosts, for the person who has to go and collect what is missing."""

    output: Path
    mapping: Path | None
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    local_manifest: dict[str, Any] = field(default_factory=dict)


def archive_format(path: Path) -> str | None:
    name = path.name.lower()
    return next((fmt for suffix, fmt in FORMATS.items() if name.endswith(suffix)), None)


def default_mapping_path(output: Path) -> Path:
    return output.with_name(output.name + MAPPING_SUFFIX)


# -- public entry point -----------------------------------------------------------------------


def build_package(
    paths: Iterable[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    redact: bool = False,
    mapping: str | os.PathLike[str] | None = None,
    window_minutes: float = 5.0,
    redact_vm_names: bool = False,
    overwrite: bool = False,
    now: datetime | None = None,
    limits: Limits | None = None,
) -> PackageResult:
    """Build the escalation package for the evidence under ``paths`` into ``output``.

    ``limits`` caps decompression per input, the same caps ``diagnose`` applies."""
    inputs = [Path(p) for p in paths]
    out = Path(output)
    fmt = archive_format(out)
    if fmt is None:
        raise EscalateError(f"{printable(str(out))}: the output must end in .zip, .tar.gz or .tgz")
    if window_minutes <= 0:
        raise EscalateError("the excerpt window must be a positive number of minutes")
    map_path = Path(mapping) if mapping is not None else (default_mapping_path(out) if redact else None)
    _check_target(out, inputs, overwrite, "output")
    if map_path is not None:
        _check_target(map_path, inputs, True, "mapping file")
        if map_path.resolve() == out.resolve():
            raise EscalateError("the mapping file cannot be the archive itself")
    created = (now or datetime.now(UTC)).astimezone(UTC)
    window = timedelta(minutes=window_minutes)

    limits = limits or Limits()
    diagnosis, diagnosis_error = _diagnose(inputs, created, limits)
    if diagnosis is not None:  # names from the evidence, rendered safely in every file
        diagnosis = _map_strings(diagnosis, printable)
    namer = PathNamer(inputs)
    pending: list[tuple[Path, Path]] = []  # (temporary file, final name), renamed at the very end
    # A private (0700) staging folder, removed on every exit: normal, an exception, or a signal
    # that the CLI turns into one (SIGTERM, SIGINT, SIGHUP). Only SIGKILL can leave it behind;
    # what it holds is already free of secrets, as everything is stripped on the way in.
    try:
        with tempfile.TemporaryDirectory(prefix="vvolguard-escalate-") as tmp:
            stage = Path(tmp) / "stage"
            final = Path(tmp) / "final"
            stage.mkdir()
            final.mkdir()
            inventory = Inventory()
            if diagnosis_error:
                inventory.warnings.append(printable(diagnosis_error))
            anchors = _anchors(diagnosis)
            inventory.anchor_times = sorted(a.time for a in anchors)
            stage_inputs(inputs, stage, inventory, anchors, window, namer, redact, limits)
            if diagnosis is not None:
                for name in (*diagnosis.hosts, *_failed_hosts(diagnosis)):
                    inventory.add_host(name)
            diagnosis_files = ["diagnosis/diagnosis.json", "diagnosis/summary.md"] if diagnosis else []
            items = evaluate(inventory, diagnosis, diagnosis_files)

            def manifest_for(counts: dict[str, int] | None) -> dict[str, Any]:
                return manifest_document(
                    items, inventory, created=created, redacted=redact, window_minutes=window_minutes,
                    redaction_counts=counts, diagnosis=diagnosis,
                )  # fmt: skip

            manifest = manifest_for(None)
            readme = render_readme(manifest, diagnosis)

            pseudo: Pseudonymizer | None = None
            if redact:
                pseudo = _build_pseudonymizer(
                    stage, inventory, diagnosis, manifest, readme, namer, redact_vm_names
                )
                counts = {k: len(v) for k, v in pseudo.mapping().items()}
                manifest = manifest_for(counts)
                readme = render_readme(manifest, diagnosis)

            def clean(text: str) -> str:
                text = strip_line(printable(namer.shorten(text)))
                return pseudo.apply(text) if pseudo is not None else text

            _write_final(final, stage, pseudo)
            if diagnosis is not None:
                _write_diagnosis(final / "diagnosis", _map_strings(diagnosis, clean))
            write_text(final / "manifest.json", json.dumps(_map_json(manifest, clean), indent=2) + "\n")
            write_text(final / "README.txt", "\n".join(clean(line) for line in readme.split("\n")))
            root = f"vvolguard-escalation-{created:%Y%m%dT%H%M%SZ}"
            if pseudo is not None and map_path is not None:
                pending.append((write_mapping(map_path, pseudo, out, created), map_path))
            pending.append((write_archive(final, out, fmt, root, created), out))
        commit(pending)
    except BaseException:
        for tmp_file, _ in pending:
            tmp_file.unlink(missing_ok=True)
        raise

    map_written = map_path if pseudo is not None and map_path is not None else None
    final_manifest = _map_json(manifest, clean)
    local = _map_json(manifest, lambda text: strip_line(printable(namer.shorten(text))))
    return PackageResult(out, map_written, final_manifest, list(local["warnings"]), local)


# -- inputs -----------------------------------------------------------------------------------


def _check_target(target: Path, inputs: list[Path], overwrite: bool, what: str) -> None:
    resolved = target.resolve()
    for p in inputs:
        if not p.exists():
            continue
        source = p.resolve()
        if resolved == source or (target.exists() and source.is_file() and target.samefile(source)):
            raise EscalateError(
                f"{printable(str(target))}: the {what} would overwrite an input; choose another path"
            )
        if source.is_dir() and source in resolved.parents:
            raise EscalateError(
                f"{printable(str(target))}: the {what} would be written inside the evidence folder "
                f"{printable(str(p))}; "
                "choose a path outside the inputs"
            )
    if target.exists() and not overwrite:
        raise EscalateError(f"{printable(str(target))} exists; remove it or pass --force")
    if target.exists() and target.is_dir():
        raise EscalateError(f"{printable(str(target))} is a folder")


def _diagnose(inputs: list[Path], now: datetime, limits: Limits) -> tuple[Diagnosis | None, str | None]:
    try:
        from vvolguard.pipeline import diagnose
    except ImportError as exc:  # pragma: no cover - the pipeline ships with the package
        return None, f"diagnosis unavailable ({exc}); the package holds the evidence only"
    try:
        return diagnose(inputs, now=now, limits=limits), None
    except Exception as exc:  # the package must still be built: it is how the bug gets reported
        return None, f"diagnosis failed ({type(exc).__name__}: {exc}); the package holds the evidence only"


def _failed_hosts(d: Diagnosis) -> Iterator[str]:
    for f in d.migrations.failed:
        if f.source:
            yield f.source
        if f.destination:
            yield f.destination


def _anchors(d: Diagnosis | None) -> list[Anchor]:
    if d is None:
        return []
    out = []
    for f in d.migrations.failed:
        if f.time is None:
            continue
        hosts = frozenset(short_host(h) for h in (f.source, f.destination) if h)
        when = f.time.isoformat(timespec="seconds").replace("+00:00", "Z")
        label = (
            f"{f.task_id or 'task ?'} failed {when}: VM {f.vm or '?'} {f.source or '?'} -> "
            f"{f.destination or '?'}: {f.error or ''}"
        ).strip()
        out.append(Anchor(f.time, strip_line(label), hosts or None))
    return out


# -- redaction --------------------------------------------------------------------------------


def _walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _walk_strings(v)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from _walk_strings(v)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk_strings(getattr(value, f.name))


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """A copy of ``value`` (dataclasses, containers) with ``fn`` applied to every string."""
    if isinstance(value, Enum):
        return value
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {(fn(k) if isinstance(k, str) else k): _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(_map_strings(v, fn) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _map_strings(getattr(value, f.name), fn) for f in dataclasses.fields(value) if f.init
        }
        return dataclasses.replace(value, **changes)
    return value


_map_json = _map_strings


def _build_pseudonymizer(
    stage: Path,
    inventory: Inventory,
    diagnosis: Diagnosis | None,
    manifest: dict[str, Any],
    readme: str,
    namer: PathNamer,
    vm_names: bool,
) -> Pseudonymizer:
    pseudo = Pseudonymizer(vm_names=vm_names)
    for name in inventory.hosts.values():
        pseudo.add_host(name)
    for f in inventory.files:
        pseudo.add_host(f.host)
    if diagnosis is not None:
        for name in diagnosis.hosts:
            pseudo.add_host(name)
        for failed in diagnosis.migrations.failed:
            pseudo.add_host(failed.source)
            pseudo.add_host(failed.destination)
            pseudo.add_vm(failed.vm)
        for p in diagnosis.providers:
            pseudo.add_provider(p.name)
            if p.url:
                pseudo.discover(p.url)
            for observer in p.status:
                if observer.lower() != "vcenter":
                    pseudo.add_host(observer)
        for pe in diagnosis.protocol_endpoints:
            pseudo.add_host(pe.host)
        for cert in diagnosis.certificates:
            for key in ("dns_names", "ip_addresses", "names"):
                for name in cert.get(key) or ():
                    pseudo.add_host(str(name))
            pseudo.add_host(cert.get("provider_host"))
        for storm in diagnosis.migrations.storms:
            pseudo.add_host(storm.source_host)
        for text in _walk_strings(diagnosis):
            for line in namer.shorten(text).split("\n"):
                pseudo.discover(line)
    for path in sorted(stage.rglob("*")):
        rel = path.relative_to(stage).as_posix()
        pseudo.discover(rel)
        if path.is_file():
            with path.open(encoding="utf-8", errors="replace") as lines:
                pseudo.discover_lines(line.rstrip("\n") for line in lines)
    for text in _walk_strings(manifest):
        pseudo.discover(text)
    pseudo.discover_lines(readme.split("\n"))
    pseudo.finalize()
    return pseudo


# -- output -----------------------------------------------------------------------------------


def _write_final(final: Path, stage: Path, pseudo: Pseudonymizer | None) -> None:
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        rel = path.relative_to(stage).as_posix()
        if pseudo is None:
            target = final / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            continue
        target = final / "/".join(safe_component(pseudo.apply(part)) for part in rel.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        with (
            path.open(encoding="utf-8", errors="replace") as src,
            target.open("w", encoding="utf-8", newline="\n") as sink,
        ):
            for line in src:
                sink.write(pseudo.apply(line))


def _write_diagnosis(folder: Path, diagnosis: Diagnosis) -> None:
    from vvolguard.report.jsonout import to_json

    write_text(folder / "diagnosis.json", to_json(diagnosis))
    try:
        from vvolguard.report.markdown import render_markdown
    except ImportError:  # pragma: no cover
        return
    write_text(folder / "summary.md", render_markdown(diagnosis))
