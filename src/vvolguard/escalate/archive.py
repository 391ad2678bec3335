"""Write the finished package: the archive (atomically, with nothing that names the sender) and
the redaction mapping (beside it, private).

Why so careful: a tar header carries the local user and group, a gzip header the local file
name; either could name the sender. Members are written in sorted order with fixed times, so the
same inputs and ``now`` give the same bytes. The archive is written under a temporary name in the
output folder and renamed into place, so a failed run never leaves half an archive.
"""

from __future__ import annotations

import gzip
import json
import os
import tarfile
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

from vvolguard.escalate.names import printable
from vvolguard.escalate.redact import Pseudonymizer

MAPPING_SCHEMA = "vvolguard.redaction-map/v1"


def write_archive(final: Path, out: Path, fmt: str, root: str, created: datetime) -> Path:
    """Write the archive under a temporary name beside ``out`` and return that name; the caller
    renames it into place (:func:`commit`) once everything else is written, or removes it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in final.rglob("*") if p.is_file())
    handle, tmp_name = tempfile.mkstemp(prefix=".vvolguard-", suffix=".partial", dir=out.parent)
    tmp = Path(tmp_name)
    mtime = int(created.timestamp())
    try:
        with os.fdopen(handle, "wb") as raw:
            if fmt == "zip":
                stamp = created.timetuple()[:6]
                with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                    for path in files:
                        entry = zipfile.ZipInfo(f"{root}/{path.relative_to(final).as_posix()}", stamp)
                        entry.compress_type = zipfile.ZIP_DEFLATED
                        entry.external_attr = 0o644 << 16
                        with path.open("rb") as src, archive.open(entry, "w") as dst:
                            while block := src.read(1024 * 1024):
                                dst.write(block)
            else:
                # GzipFile with an empty name: the gzip header must not carry a local file name,
                # and tar headers carry no local user or group (both could name the sender).
                with (
                    gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime) as gz,
                    tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as archive,
                ):
                    for path in files:
                        info = tarfile.TarInfo(f"{root}/{path.relative_to(final).as_posix()}")
                        info.size = path.stat().st_size
                        info.mtime = mtime
                        info.mode = 0o644
                        info.uid = info.gid = 0
                        info.uname = info.gname = ""
                        with path.open("rb") as src:
                            archive.addfile(info, src)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def commit(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each temporary file onto its final name; on any failure (a signal included)
    remove the temporary files and whatever was already renamed, so nothing half-done stays."""
    done: list[Path] = []
    try:
        for tmp, final in pairs:
            os.replace(tmp, final)
            done.append(final)
    except BaseException:
        for tmp, _ in pairs:
            tmp.unlink(missing_ok=True)
        for final in done:
            final.unlink(missing_ok=True)
        raise


def write_mapping(path: Path, pseudo: Pseudonymizer, archive: Path, created: datetime) -> Path:
    """Write the mapping (0600) under a temporary name beside ``path``; returns that name."""
    document = {
        "schema": MAPPING_SCHEMA,
        "created": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "archive": printable(archive.name),
        "note": "original -> alias. Keep this file: it is not in the archive and it undoes the pseudonyms.",
        "aliases": pseudo.mapping(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".vvolguard-", suffix=".partial", dir=path.parent)  # 0600
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as sink:
            json.dump(document, sink, indent=2, ensure_ascii=False)
            sink.write("\n")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp
