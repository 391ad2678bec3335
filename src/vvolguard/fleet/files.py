"""The files of an estate: where they lie, which host each belongs to, and what changed.

Files are the unit of work: each is read once, where it lies, by whichever worker gets it. A
path is a local file or folder (walked) or an fsspec URL (``s3://bucket/syslog/``,
``sftp://host/var/log/remote/``) when the fsspec implementation for that scheme is installed;
workers must see the same paths or URLs.

The host of a file comes from where it lies, as a syslog server or a bundle share keeps it: a
folder with an ``esxcli system hostname get`` output (``commands/*hostname*.txt``), or a folder or
bundle named after the host. Lines that carry their sending host (forwarded syslog) name it
themselves; this hint is for those that do not.

The manifest (``manifest.json`` in the output folder) keys each file by path, size, modification
time and a hash of its first block, so a nightly run over months of history reads only what is
new or changed. The first-block hash catches a file rewritten with the same size and time; a
log that only grew changes its size.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from vvolguard.evidence.hostnames import bundle_host, host_from_text
from vvolguard.fleet.schema import BUCKET_SCHEMA

#: Bytes hashed at the start of each file for the manifest.
HEAD_BYTES = 64 * 1024
MANIFEST = "manifest.json"
#: 2: a summary's buckets are a polars frame, cached as Parquet beside its JSON.
MANIFEST_VERSION = 2
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class FileRef:
    """One input file: where it is, what the manifest keys it by, and its host hint."""

    path: str  # local path or fsspec URL
    size: int
    mtime: float
    head: str  # sha256 of the first HEAD_BYTES
    host: str | None  # from the folder or bundle it lies in; None when nothing says

    @property
    def key(self) -> tuple[int, float, str]:
        return (self.size, self.mtime, self.head)


def is_url(path: str) -> bool:
    return bool(_URL.match(path)) and not path.startswith("file://")


def discover(paths: Iterable[str], skip: Iterable[str] = ()) -> tuple[list[FileRef], list[str]]:
    """Every file under ``paths`` (sorted by path), and a warning per path that cannot be read.
    ``skip``: folders never walked (the output folder, when it lies inside an input)."""
    refs: list[FileRef] = []
    warnings: list[str] = []
    skipped = {os.path.realpath(s) for s in skip}
    for raw in paths:
        path = str(raw).removeprefix("file://")
        try:
            if is_url(path):
                refs.extend(_discover_url(path))
            else:
                refs.extend(_discover_local(Path(path), skipped, warnings))
        except Exception as exc:  # an unreadable input is a warning, never the end of the run
            warnings.append(f"{path}: cannot be listed ({type(exc).__name__}: {exc})")
    unique = {r.path: r for r in refs}
    return [unique[p] for p in sorted(unique)], warnings


def _discover_local(root: Path, skipped: set[str], warnings: list[str]) -> Iterator[FileRef]:
    if root.is_file():
        yield _local_ref(root, _host_hint(root.parent, root.parent))
        return
    if not root.is_dir():
        warnings.append(f"{root}: no such file or folder")
        return
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and os.path.realpath(here / d) not in skipped
        )
        hint = _host_hint(here, root)
        for name in sorted(filenames):
            path = here / name
            if name.startswith(".") or not path.is_file() or path.is_symlink():
                continue
            try:
                yield _local_ref(path, hint)
            except OSError as exc:
                warnings.append(f"{path}: cannot be read ({exc.strerror or exc})")


def _local_ref(path: Path, host: str | None) -> FileRef:
    st = path.stat()
    with open(path, "rb") as stream:
        head = hashlib.sha256(stream.read(HEAD_BYTES)).hexdigest()
    return FileRef(str(path), st.st_size, st.st_mtime, head, host)


_HINTS: dict[str, str | None] = {}


def _host_hint(folder: Path, root: Path) -> str | None:
    """The host a folder's files belong to: its (or a parent's, up to the input ``root``)
    hostname output, else a folder name that is a bundle's or a host's name."""
    key = str(folder)
    if key in _HINTS:
        return _HINTS[key]
    found: str | None = None
    lineage = [folder, *folder.parents]
    top = lineage.index(root) if root in lineage else 0
    for candidate in lineage[: top + 1]:
        commands = candidate / "commands"
        if commands.is_dir():
            for hostname in sorted(commands.glob("*hostname*.txt")):
                try:
                    text = hostname.read_bytes()[:4096].decode("utf-8", "replace")
                except OSError:
                    continue
                found = host_from_text(text)
                if found:
                    break
        if found:
            break
        if candidate.name in ("commands", "json", "log", "var", "run"):
            continue
        found = bundle_host(candidate.name)
        if found:
            break
    _HINTS[key] = found
    return found


def _discover_url(url: str) -> Iterator[FileRef]:
    import fsspec  # type: ignore[import-untyped]

    fs, root = fsspec.core.url_to_fs(url)
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple | list) else fs.protocol
    infos = [fs.info(root)] if fs.isfile(root) else list(fs.find(root, detail=True).values())
    for info in sorted(infos, key=lambda i: i["name"]):
        if info.get("type") != "file":
            continue
        name = info["name"]
        with fs.open(name, "rb") as stream:
            head = hashlib.sha256(stream.read(HEAD_BYTES)).hexdigest()
        mtime = info.get("mtime") or info.get("LastModified") or info.get("updated") or 0
        parent = PurePosixPath(name).parent
        host = next((h for h in (bundle_host(p) for p in (parent.name, parent.parent.name)) if h), None)
        yield FileRef(
            f"{protocol}://{name}" if "://" not in name else name,
            int(info.get("size") or 0),
            mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime),
            head,
            host,
        )


# -- the manifest ------------------------------------------------------------------------------


CACHE = "cache"
PARQUET = ".parquet"


@dataclass
class Manifest:
    """What an earlier run read: per path, the file's key; each file's summary lies in
    ``cache/<sha256 of the path>.json.gz`` and its buckets frame in ``cache/<sha256>.parquet``
    (one small pair each, so the manifest stays small and a rerun loads only the summaries it
    reuses; the buckets stay columnar, as the client merges them)."""

    out: Path
    entries: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, out: Path) -> Manifest:
        try:
            doc = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(out, {})
        if not isinstance(doc, dict) or doc.get("version") != MANIFEST_VERSION:
            return cls(out, {})
        entries = doc.get("files")
        return cls(out, entries if isinstance(entries, dict) else {})

    def _cache(self, path: str, suffix: str = ".json.gz") -> Path:
        return self.out / CACHE / f"{hashlib.sha256(path.encode()).hexdigest()}{suffix}"

    def unchanged(self, ref: FileRef) -> dict[str, Any] | None:
        """The earlier summary of ``ref`` if the file is as it was then (None otherwise, or
        when the cached summary is gone or damaged: the file is then read again)."""
        entry = self.entries.get(ref.path)
        if not entry or (entry.get("size"), entry.get("mtime"), entry.get("head")) != ref.key:
            return None
        try:
            summary = json.loads(gzip.decompress(self._cache(ref.path).read_bytes()))
            buckets = pl.read_parquet(self._cache(ref.path, PARQUET))
        except (OSError, ValueError, EOFError, pl.exceptions.PolarsError):
            return None
        if not isinstance(summary, dict) or buckets.schema != pl.Schema(BUCKET_SCHEMA):
            return None
        summary["buckets"] = buckets
        return summary

    def save(self, refs: list[FileRef], summaries: dict[str, dict[str, Any]], fresh: set[str]) -> None:
        """Record every file summarised; write the summaries of ``fresh`` (newly read) files."""
        (self.out / CACHE).mkdir(parents=True, exist_ok=True)
        for path in sorted(fresh):
            summary = dict(summaries[path])
            buckets = summary.pop("buckets", None)
            if not isinstance(buckets, pl.DataFrame):
                buckets = pl.DataFrame(schema=BUCKET_SCHEMA)
            buckets.write_parquet(self._cache(path, PARQUET), statistics=False)
            blob = gzip.compress(json.dumps(summary).encode(), compresslevel=1, mtime=0)
            self._cache(path).write_bytes(blob)
        files = {ref.path: asdict(ref) for ref in refs if ref.path in summaries}
        keep = {self._cache(p, suffix).name for p in files for suffix in (".json.gz", PARQUET)}
        for stale in [*(self.out / CACHE).glob("*.json.gz"), *(self.out / CACHE).glob(f"*{PARQUET}")]:
            if stale.name not in keep:
                stale.unlink()
        tmp = self.out / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps({"version": MANIFEST_VERSION, "files": files}), encoding="utf-8")
        tmp.replace(self.out / MANIFEST)
