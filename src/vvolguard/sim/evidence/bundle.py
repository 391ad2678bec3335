"""The ESXi vm-support bundle, written as a folder and as a reproducible ``.tgz``.

Layout (docs/evidence-formats.md §3): ``esx-<host>-<YYYY-MM-DD>--<HH.MM>-<pid>/`` with logs under
``var/run/log/`` (``vvold.log``, ``vvold.N.gz``, ``hostd.log``, ``vmkernel.log``,
``vmkwarning.log``), command outputs under ``commands/`` and JSON twins under ``json/``. The
``.tgz`` holds the same tree under the same top folder, as vm-support writes it.

Reproducible on purpose (same input, same bytes): members are sorted, owned by root with
mode 0644/0755 and the bundle's own timestamp as mtime, and the gzip header carries that mtime
and no file name.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath

LOG_DIR = "var/run/log"


def bundle_name(host: str, when: datetime, pid: int) -> str:
    """``esx-<host>-2023-06-07--19.51-2831891`` (§3)."""
    return f"esx-{host}-{when:%Y-%m-%d}--{when:%H.%M}-{pid}"


def write_folder(root: Path, files: Mapping[str, bytes]) -> Path:
    """Write ``files`` (bundle-relative POSIX paths) under ``root``; returns ``root``."""
    for rel in sorted(files):
        path = root.joinpath(*PurePosixPath(rel).parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[rel])
    return root


def tgz_bytes(top: str, files: Mapping[str, bytes], when: datetime) -> bytes:
    """A gzip'd tar of ``files`` under ``top/``, byte-identical for the same input."""
    mtime = int(when.timestamp())
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs: set[str] = set()
        for rel in sorted(files):
            parts = PurePosixPath(top, rel).parts
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if folder not in dirs:
                    dirs.add(folder)
                    info = tarfile.TarInfo(folder)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = mtime
                    info.uname = info.gname = "root"
                    tar.addfile(info)
            data = files[rel]
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = mtime
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=mtime, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def write_bundle(
    out_dir: Path,
    host: str,
    when: datetime,
    pid: int,
    files: Mapping[str, bytes],
    folder: bool = True,
    tgz_dir: Path | None = None,
) -> tuple[Path | None, Path | None]:
    """Write one host's bundle; returns ``(folder path or None, .tgz path or None)``.

    ``files`` maps bundle-relative paths (``var/run/log/vvold.log``, ``commands/...``) to bytes.
    The folder goes to ``out_dir/<bundle name>/``; the ``.tgz`` to ``tgz_dir/<bundle name>.tgz``
    when ``tgz_dir`` is given.
    """
    name = bundle_name(host, when, pid)
    folder_path = write_folder(out_dir / name, files) if folder else None
    tgz_path = None
    if tgz_dir is not None:
        tgz_dir.mkdir(parents=True, exist_ok=True)
        tgz_path = tgz_dir / f"{name}.tgz"
        tgz_path.write_bytes(tgz_bytes(name, files, when))
    return folder_path, tgz_path
