"""One piece of evidence, however it was delivered: a plain file, a gzip, or a member of a bundle.

Readers never open paths themselves. They receive an :class:`EvidenceFile`, which hides where the
bytes come from (a folder, a ``.tgz`` member, a rotated ``vvold.3.gz``) and how they are
compressed. Decompression faults (a truncated gzip, a corrupt member) become :class:`ReadWarning`
entries on the file instead of exceptions, so one bad file never stops a diagnosis.

The user's files are only ever opened for reading.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import BinaryIO

from vvolguard.records import EvidenceKind, ReadWarning

#: Bytes handed to sniffers: enough for a header row, a JSON opening, or a few log lines.
SNIFF_BYTES = 64 * 1024
#: Read size for streaming; large enough for vectorised parsing, small enough to bound memory.
BLOCK_BYTES = 8 * 1024 * 1024

GZIP_MAGIC = b"\x1f\x8b"


def strip_gz(name: str) -> str:
    """``vvold.3.gz`` -> ``vvold.3``; the logical name is what sniffing by name looks at."""
    return name[:-3] if name.lower().endswith(".gz") else name


@dataclass(eq=False)
class EvidenceFile:
    """A readable, named stream of (decompressed) bytes.

    ``display`` is what citations show. ``host`` is the ESXi host the file belongs to when a
    bundle name, folder name or content says so; readers may refine it from the content.
    """

    display: str
    name: str
    opener: Callable[[], BinaryIO]
    host: str | None = None
    size: int | None = None
    kind: EvidenceKind = EvidenceKind.UNKNOWN
    warnings: list[ReadWarning] = field(default_factory=list)
    #: the zone the user says local times without an offset were written in (``--tz``)
    assume_tz: tzinfo | None = None

    def warn(self, message: str, line: int | None = None, *, caveat: bool = False) -> None:
        """``caveat=True``: the file was used; the message is what to keep in mind about it."""
        self.warnings.append(ReadWarning(self.display, line, message, caveat))

    def open(self) -> BinaryIO:
        """Open for reading, decompressing gzip transparently (detected by magic, not name)."""
        raw = self.opener()
        peek = _peek(raw, 2)
        if peek == GZIP_MAGIC:
            return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
        return raw

    def blocks(self, size: int = BLOCK_BYTES) -> Iterator[bytes]:
        """Yield decompressed blocks of about ``size`` bytes.

        gzip is decoded incrementally with zlib (not GzipFile) so a truncated rotation such as
        ``vvold.3.gz`` still gives every byte before the damage, followed by a warning.
        Concatenated gzip members (as some rotators write) are followed to the end.
        """
        try:
            raw = self.opener()
        except OSError as exc:
            self.warn(f"cannot be read: {_describe(exc)}")
            return
        try:
            if _peek(raw, 2) == GZIP_MAGIC:
                yield from _gunzip_blocks(raw, size, self)
            else:
                while block := raw.read(size):
                    yield block
        except (OSError, EOFError, zlib.error) as exc:
            self.warn(f"stream ends early ({_describe(exc)}); used what was readable", caveat=True)
        finally:
            raw.close()

    def head(self, size: int = SNIFF_BYTES) -> bytes:
        """The first ``size`` decompressed bytes (less if the file is shorter or broken)."""
        out = bytearray()
        saved = list(self.warnings)
        for block in self.blocks(size):
            out += block
            if len(out) >= size:
                break
        self.warnings[:] = saved  # sniffing must not report damage twice; reading will
        return bytes(out[:size])

    def lines(self) -> Iterator[tuple[int, str]]:
        """Yield ``(line_number, text)`` with undecodable bytes replaced, never raising.

        Meant for the small, structured kinds (esxcli, exports, certificates). Big logs use
        :meth:`blocks` and vectorised parsing instead.
        """
        number = 0
        pending = b""
        for block in self.blocks(1024 * 1024):
            pending += block
            parts = pending.split(b"\n")
            pending = parts.pop()
            for part in parts:
                number += 1
                yield number, part.decode("utf-8", "replace").rstrip("\r")
        if pending:
            number += 1
            yield number, pending.decode("utf-8", "replace").rstrip("\r")

    def text(self, limit: int = 64 * 1024 * 1024) -> str | None:
        """The whole file as text, or ``None`` (with a warning) when it exceeds ``limit``."""
        out = bytearray()
        for block in self.blocks():
            out += block
            if len(out) > limit:
                self.warn(f"larger than {limit // (1024 * 1024)} MiB for this kind of evidence; skipped")
                return None
        return out.decode("utf-8-sig", "replace")


def _gunzip_blocks(raw: BinaryIO, size: int, ef: EvidenceFile) -> Iterator[bytes]:
    decoder = zlib.decompressobj(wbits=31)
    active = True  # inside a gzip member whose end we have not seen yet
    pending = bytearray()
    while chunk := raw.read(1024 * 1024):
        while chunk:
            if not active:
                if chunk[:2] != GZIP_MAGIC:
                    break  # trailing padding after the last member
                decoder = zlib.decompressobj(wbits=31)
                active = True
            pending += decoder.decompress(chunk)
            chunk = b""
            if decoder.eof:
                chunk = decoder.unused_data
                active = False
            if len(pending) >= size:
                yield bytes(pending)
                pending.clear()
    if active:
        pending += decoder.flush()
    if pending:
        yield bytes(pending)
    if active and not decoder.eof:
        ef.warn("truncated compressed data; used every line before the damage", caveat=True)


def _peek(stream: BinaryIO, size: int) -> bytes:
    if hasattr(stream, "peek"):
        try:
            return stream.peek(size)[:size]  # type: ignore[attr-defined]
        except (OSError, ValueError):
            return b""
    try:
        pos = stream.tell()
        data = stream.read(size)
        stream.seek(pos)
        return data
    except (OSError, ValueError, io.UnsupportedOperation):
        return b""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated compressed data"
    return f"{type(exc).__name__}: {exc}"


def from_bytes(display: str, data: bytes, host: str | None = None) -> EvidenceFile:
    """An in-memory evidence file: for tests, and for members already read into memory."""
    name = strip_gz(display.rsplit("!", 1)[-1].rsplit("/", 1)[-1])
    return EvidenceFile(
        display=display, name=name, opener=lambda: io.BytesIO(data), host=host, size=len(data)
    )
