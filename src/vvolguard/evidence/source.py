"""One piece of evidence, however it was delivered: a plain file, a gzip, or a member of a bundle.

Readers never open paths themselves. They receive an :class:`EvidenceFile`, which hides where the
bytes come from (a folder, a ``.tgz`` member, a rotated ``vvold.3.gz``) and how they are
compressed. This is the one place where the bytes of every input pass, so it is where untrusted
input is made safe for every reader at once:

* damage (a bad deflate stream, a CRC error, a cut gzip member, a truncated tar member, a broken
  zip member) is the end of the stream plus a :class:`ReadWarning` naming the file, never an
  exception: every byte before the damage is used and one bad file never stops a diagnosis;
* decompression is bounded: each input has an expansion budget (:class:`Limits`), a member that
  expands suspiciously is named, and no single call inflates more than a block;
* :meth:`EvidenceFile.line_blocks` cuts over-long lines at :data:`MAX_LINE_BYTES`, so a gigabyte
  without a newline costs one pass, not a quadratic line buffer.

The user's files are only ever opened for reading.
"""

from __future__ import annotations

import contextlib
import io
import re
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, BinaryIO

from vvolguard.records import EvidenceKind, ReadWarning

#: Bytes handed to sniffers: enough for a header row, a JSON opening, or a few log lines.
SNIFF_BYTES = 64 * 1024
#: Read size for streaming; large enough for vectorised parsing, small enough to bound memory.
BLOCK_BYTES = 8 * 1024 * 1024
#: Compressed bytes read at a time; with ``max_length`` on the decoder, one read can never
#: inflate into more than a block, however well it compresses.
_RAW_READ = 64 * 1024

#: The project's line cap (the vvold and host-log readers cut at the same size): a line longer
#: than this is cut to its first :data:`LONG_LINE_KEEP` bytes with a warning.
MAX_LINE_BYTES = 4 * 1024 * 1024
LONG_LINE_KEEP = 64 * 1024

GZIP_MAGIC = b"\x1f\x8b"

GiB = 1024**3
MiB = 1024**2


@dataclass(frozen=True)
class Limits:
    """The caps on decompression, per input (a file or archive the user gave or a folder held).

    Why these defaults: a vm-support bundle with every rotated log and a core dump expands to
    a few GiB, rarely 10; 20 GiB leaves room for that and for zips of several bundles, yet stops
    a decompression bomb after about a minute of inflating (zeros inflate at 0.3-1 GiB/s here).
    Deflate cannot exceed about 1032:1, and text logs with timestamps compress 10-50:1, so a
    member past 1000:1 is a run of one byte (a bomb, or a log zero-filled after a crash): it is
    named, and still read within the budget, because a zero-filled log can end in real lines.
    vm-support bundles nest one level (bundles zipped together, a bundle in a case archive);
    four levels is generous and keeps a 150-deep archive from costing anything.
    """

    max_expanded: int = 20 * GiB
    max_ratio: int = 1000
    max_depth: int = 4


class ExpansionLimit(OSError):
    """The input's expansion budget is spent: readers see the end of the stream."""


class Budget:
    """Expanded bytes left for one input, shared by every stream decompressed from it."""

    def __init__(self, limits: Limits, label: str, warn: Callable[..., None] | None = None) -> None:
        self.limits = limits
        self.label = label
        self.used = 0
        self.spent = False
        self._warn = warn

    def room(self) -> int:
        return max(0, self.limits.max_expanded - self.used)

    def take(self, want: int) -> int:
        """Charge up to ``want`` bytes; returns how many fit (less only once the budget is spent)."""
        granted = min(want, self.room())
        self.used += granted
        if granted < want and not self.spent:
            self.spent = True
            if self._warn is not None:
                self._warn(
                    self.label,
                    f"expands to more than {format_size(self.limits.max_expanded)} (--max-expanded); "
                    "read up to that point, the rest was not decompressed",
                    caveat=True,
                )
        return granted


class Metered(io.RawIOBase):
    """A seekable decompressed stream (the inside of a ``.tgz``, a deflated zip member) charged
    to a :class:`Budget`, and cheap to seek in the ways tarfile seeks.

    Only the high-water mark is charged, so seeking back costs no budget twice; a seek or read
    past the budget stops at it and raises :class:`ExpansionLimit`.

    Why the cache: seeking back in a gzip stream means inflating it again from its start, and
    readers sniff a member's head before reading it (a seek back of a few KiB). The last
    :data:`_TAIL` bytes are kept, so those seeks are free; forward seeks (tarfile stepping over
    members) read in 1 MiB pieces rather than GzipFile's 8 KiB steps.
    """

    _TAIL = 1024 * 1024

    def __init__(self, inner: BinaryIO, budget: Budget, size: int | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.budget = budget
        self.size = size  # known for zip members: lets a zip inside a zip find its directory
        self.high = 0
        self.pos = 0  # where the caller is
        self.inner_pos = 0  # where ``inner`` is; ``tail`` holds the bytes just before it
        self.tail = bytearray()
        self._error: Exception | None = None  # met by ``_fill`` after it had data to return
        #: (position, first bytes) of the last read: lets tarfile's caller look at the block
        #: where a listing stopped
        self.last_read: tuple[int, bytes] = (-1, b"")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def _ceiling(self) -> int:
        return self.high + self.budget.room()

    def _limit(self) -> ExpansionLimit:
        self.budget.take(1)  # names the limit once
        return ExpansionLimit(f"expansion limit of {format_size(self.budget.limits.max_expanded)}")

    def _fill(self, want: int) -> bytes:
        """Read up to ``want`` new bytes from ``inner`` (charged, kept in the tail).

        Read :data:`_RAW_READ` at a time: when ``inner`` fails (a cut ``.tgz``), what came
        before is returned and kept, and the error is raised on the next call."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        room = self._ceiling() - self.inner_pos
        if room <= 0:
            raise self._limit()
        want = min(want, room)
        read = getattr(self.inner, "read1", None) or self.inner.read
        got = bytearray()
        while len(got) < want:
            try:
                piece = read(min(_RAW_READ, want - len(got)))
            except Exception as exc:
                if not got:
                    raise
                self._error = exc
                break
            if not piece:
                break
            got += piece
        data = bytes(got)
        self.inner_pos += len(data)
        if self.inner_pos > self.high:
            self.budget.take(self.inner_pos - self.high)
            self.high = self.inner_pos
        self.tail += data
        if len(self.tail) > 2 * self._TAIL:
            del self.tail[: len(self.tail) - self._TAIL]
        return data

    def read(self, size: int | None = -1) -> bytes:
        start = self.pos
        if size is None or size < 0:
            size = max(0, self._ceiling() - self.pos)
        if self.pos > self.inner_pos:  # sought past the end earlier
            return b""
        out = b""
        if self.pos < self.inner_pos:  # inside the tail
            at = len(self.tail) - (self.inner_pos - self.pos)
            out = bytes(self.tail[at : at + size])
            self.pos += len(out)
            size -= len(out)
        if size > 0:
            try:
                data = self._fill(size)
            except ExpansionLimit:
                if not out:
                    raise
                data = b""
            self.pos = self.inner_pos
            out += data
        self.last_read = (start, out[:512])
        return out

    def readinto(self, buffer: Any) -> int:  # any writable buffer (bytearray, memoryview)
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset += self.pos
        elif whence == 2:
            if self.size is None:
                raise io.UnsupportedOperation("seek from the end of a decompressed stream")
            offset += self.size
        if offset < 0:
            raise ValueError("negative seek position")
        if self.inner_pos - len(self.tail) <= offset <= self.inner_pos:
            self.pos = offset
        elif offset > self.inner_pos:
            while self.inner_pos < offset:
                if not self._fill(min(1024 * 1024, offset - self.inner_pos)):
                    break  # end of data: the next read returns nothing
            self.pos = offset
        else:  # far back: the inner stream starts over (gzip inflates again from the start)
            self.inner.seek(offset)
            self.inner_pos = self.pos = offset
            self.tail.clear()
            self._error = None
        return self.pos

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            super().close()


def strip_gz(name: str) -> str:
    """``vvold.3.gz`` -> ``vvold.3``; the logical name is what sniffing by name looks at."""
    return name[:-3] if name.lower().endswith(".gz") else name


#: Characters that must not reach a terminal, a report line or a README as themselves:
#: C0/C1 controls (newline, carriage return, escape...), DEL, and Unicode line/paragraph
#: separators. Surrogates are what ``surrogateescape`` made of undecodable bytes.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def safe_name(name: str) -> str:
    """A path or member name as it can be shown anywhere, on one line, without surprises.

    Undecodable bytes (``surrogateescape`` surrogates from the file system or tarfile) become
    ``\\xNN``; control characters become ``\\n``, ``\\t`` or ``\\xNN``; everything else, including
    non-ASCII letters, is kept. A name that is already safe is returned unchanged.
    """
    if not _UNSAFE.search(name):
        return name
    return _UNSAFE.sub(_escape, name)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape of byte code-0xDC00
        return f"\\x{code - 0xDC00:02x}"
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if char == "\t":
        return "\\t"
    if code > 0xFF:
        return f"\\u{code:04x}"
    return f"\\x{code:02x}"


@dataclass(eq=False)
class EvidenceFile:
    """A readable, named stream of (decompressed) bytes.

    ``display`` is what citations show (made safe by :func:`safe_name` where the file is found).
    ``host`` is the ESXi host the file belongs to when a bundle name, folder name or content says
    so; readers may refine it from the content. ``budget`` is the expansion budget of the input
    the file came from (``None``: unlimited, as for bytes already in memory).
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
    budget: Budget | None = field(default=None, repr=False)
    #: damage met while taking the sniffing head (kept off ``warnings`` so it is not reported
    #: twice; the pipeline reports it when no reader takes the file and so nothing re-reads it)
    head_damage: list[ReadWarning] = field(default_factory=list, repr=False)

    def warn(self, message: str, line: int | None = None, *, caveat: bool = False) -> None:
        """``caveat=True``: the file was used; the message is what to keep in mind about it."""
        self.warnings.append(ReadWarning(self.display, line, message, caveat))

    def open(self) -> BinaryIO:
        """A file object over the decompressed bytes (see :meth:`blocks` for what it tolerates)."""
        return _BlockReader(self.blocks(1024 * 1024))  # type: ignore[return-value]

    def blocks(self, size: int = BLOCK_BYTES) -> Generator[bytes, None, None]:
        """Yield decompressed blocks of about ``size`` bytes, never raising.

        gzip is decoded incrementally with zlib (not GzipFile) so a truncated rotation such as
        ``vvold.3.gz`` still gives every byte before the damage, followed by a warning.
        Concatenated gzip members (as some rotators write) are followed to the end. Any damage
        below (tar, zip, bzip2, xz, a read error) ends the stream the same way: readers see the
        end of input, and a warning on this file says why.
        """
        try:
            raw = self.opener()
        except Exception as exc:
            self.warn(f"cannot be read: {_describe(exc)}")
            return
        try:
            if _peek(raw, 2) == GZIP_MAGIC:
                yield from _gunzip_blocks(raw, size, self)
            elif _is_disk_file(raw):
                while block := raw.read(size):
                    yield block
            else:
                yield from _chunked_blocks(raw, size)
        except ExpansionLimit:
            if self.budget is None or self.budget.label != self.display:  # else already named
                self.warn(
                    "not read to the end: its input reached the expansion limit (--max-expanded); "
                    "used what was read before it",
                    caveat=True,
                )
        except Exception as exc:  # damage below us is the end of this stream, not of the run
            self.warn(
                f"stream ends early ({_describe(exc)}); used what was readable before the damage", caveat=True
            )
        finally:
            with contextlib.suppress(Exception):
                raw.close()

    def line_blocks(self, size: int = 1024 * 1024) -> Iterator[bytes]:
        """Yield chunks of whole lines (each ending in ``\\n``), with no line over
        :data:`MAX_LINE_BYTES`: a longer one is cut to its first :data:`LONG_LINE_KEEP` bytes,
        the rest skipped, and a warning names its line. Linear in the input, memory bounded by
        ``size`` plus one line; the last line gets a ``\\n`` if the file lacked one.
        """
        size = min(size, MAX_LINE_BYTES)
        pending = bytearray()  # an unfinished line, never longer than MAX_LINE_BYTES
        skipping = False
        done = 0  # lines yielded so far
        warned = False
        for block in self.blocks(size):
            start = 0
            if skipping:
                start = block.find(b"\n") + 1
                if start == 0:
                    continue
                skipping = False
            last = block.rfind(b"\n", start)
            if last < 0:
                pending += memoryview(block)[start:]
                if len(pending) > MAX_LINE_BYTES:
                    if not warned:
                        warned = True
                        self._long_line(done + 1)
                    out = bytes(pending[:LONG_LINE_KEEP]) + b"\n"
                    pending.clear()
                    skipping = True
                    done += 1
                    yield out
                continue
            if pending:
                first = block.find(b"\n", start)
                pending += memoryview(block)[start : first + 1]
                if len(pending) > MAX_LINE_BYTES + 1:
                    if not warned:
                        warned = True
                        self._long_line(done + 1)
                    del pending[LONG_LINE_KEEP:]
                    pending += b"\n"
                start = first + 1
            out = bytes(pending) + block[start : last + 1] if pending else block[start : last + 1]
            pending.clear()
            pending += memoryview(block)[last + 1 :]
            if out:
                done += out.count(b"\n")
                yield out
        if pending and not skipping:
            yield bytes(pending) + b"\n"

    def _long_line(self, line: int) -> None:
        self.warn(
            f"line longer than {MAX_LINE_BYTES // MiB} MiB; only its first {LONG_LINE_KEEP // 1024} KiB "
            "were read (further over-long lines are cut the same way)",
            line,
            caveat=True,
        )

    def head(self, size: int = SNIFF_BYTES) -> bytes:
        """The first ``size`` decompressed bytes (less if the file is shorter or broken)."""
        out = bytearray()
        saved = list(self.warnings)
        blocks = self.blocks(size)
        try:
            for block in blocks:
                out += block
                if len(out) >= size:
                    break
        finally:
            blocks.close()
        self.head_damage = self.warnings[len(saved) :]
        self.warnings[:] = saved  # sniffing must not report damage twice; reading will
        return bytes(out[:size])

    def lines(self) -> Iterator[tuple[int, str]]:
        """Yield ``(line_number, text)`` with undecodable bytes replaced, never raising.

        Meant for the small, structured kinds (esxcli, exports, certificates). Big logs use
        :meth:`blocks` and vectorised parsing instead. Lines are cut as in :meth:`line_blocks`.
        """
        number = 0
        for chunk in self.line_blocks():
            parts = chunk.split(b"\n")
            parts.pop()  # a chunk ends with a newline: the last part is empty
            for part in parts:
                number += 1
                yield number, part.decode("utf-8", "replace").rstrip("\r")

    def text(self, limit: int = 64 * 1024 * 1024) -> str | None:
        """The whole file as text, or ``None`` (with a warning) when it exceeds ``limit``."""
        out = bytearray()
        for block in self.blocks():
            out += block
            if len(out) > limit:
                self.warn(f"larger than {limit // MiB} MiB for this kind of evidence; skipped")
                return None
        return out.decode("utf-8-sig", "replace")


class _BlockReader(io.RawIOBase):
    """A read-only file object over :meth:`EvidenceFile.blocks` (for libraries that want one)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        super().__init__()
        self._blocks = blocks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # any writable buffer (bytearray, memoryview)
        while not self._buf:
            try:
                self._buf = next(self._blocks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()
        super().close()


class GzipDamage(OSError):
    """A gzip member that cannot be inflated (bad header, bad deflate data, bad CRC)."""


def _gunzip_blocks(raw: BinaryIO, size: int, ef: EvidenceFile) -> Iterator[bytes]:
    """Inflate every gzip member of ``raw`` in blocks of about ``size`` bytes.

    Bounded by design: each ``decompress`` call may produce at most what the block still lacks,
    so a bomb costs one block of memory; the input's budget is charged as bytes come out.
    """
    read = raw.read if _is_disk_file(raw) else (getattr(raw, "read1", None) or raw.read)
    decoder = zlib.decompressobj(wbits=31)
    member = 1
    active = True  # inside a gzip member whose end we have not seen yet
    pending = bytearray()
    buf = b""  # compressed bytes not yet consumed
    read_total = 0
    produced = 0
    flagged = False
    budget = ef.budget
    while True:
        if not buf:
            buf = read(_RAW_READ)
            read_total += len(buf)
            if not buf:
                break
        if not active:
            if len(buf) < 2:
                more = read(_RAW_READ)
                read_total += len(more)
                buf += more
            if buf[:2] != GZIP_MAGIC:
                break  # trailing padding after the last member
            decoder = zlib.decompressobj(wbits=31)
            member += 1
            active = True
        try:
            out = decoder.decompress(buf, max(size - len(pending), 64 * 1024))
        except zlib.error as exc:
            if pending:
                yield bytes(pending)
            raise GzipDamage(f"damaged gzip member {member} ({exc})") from None
        if decoder.eof:
            buf = decoder.unused_data
            active = False
        else:
            buf = decoder.unconsumed_tail
        if budget is not None and out:
            granted = budget.take(len(out))
            if granted < len(out):
                pending += out[:granted]
                if pending:
                    yield bytes(pending)
                raise ExpansionLimit("expansion limit")
        produced += len(out)
        pending += out
        if not flagged and produced >= 16 * MiB:
            ratio_limit = budget.limits.max_ratio if budget is not None else Limits().max_ratio
            consumed = max(1, read_total - len(buf))
            if produced > ratio_limit * consumed:
                flagged = True
                ef.warn(
                    f"expands more than {ratio_limit}:1 ({format_size(consumed)} to at least "
                    f"{format_size(produced)}): a decompression bomb or a run of one repeated byte; "
                    "read within the --max-expanded limit",
                    caveat=True,
                )
        if len(pending) >= size:
            yield bytes(pending)
            pending.clear()
    if active:
        with contextlib.suppress(zlib.error):
            pending += decoder.flush()
    if pending:
        yield bytes(pending)
    if active and not decoder.eof:
        where = f"gzip member {member}" if member > 1 else "compressed data"
        ef.warn(f"truncated {where}; used every line before the damage", caveat=True)


def _is_disk_file(raw: BinaryIO) -> bool:
    """A plain file on disk: nothing below it can be damaged mid-stream, so big reads are safe."""
    return isinstance(raw, io.BufferedReader) and isinstance(raw.raw, io.FileIO)


def _chunked_blocks(raw: BinaryIO, size: int) -> Iterator[bytes]:
    """Blocks of an archive member, read a small piece at a time.

    Why small pieces: tarfile and zipfile drop a whole ``read(n)`` when damage (a cut ``.tgz``,
    a bad deflate stream, a CRC error) shows up inside it; read ``_RAW_READ`` at a time, at most
    that much before the damage is lost, and what came before is handed out before the error
    goes up to :meth:`EvidenceFile.blocks`.
    """
    read = getattr(raw, "read1", None) or raw.read
    pending = bytearray()
    try:
        while piece := read(_RAW_READ):
            pending += piece
            if len(pending) >= size:
                yield bytes(pending)
                pending.clear()
    except Exception:  # not GeneratorExit: a consumer that stops early is no damage
        if pending:
            yield bytes(pending)
        raise
    if pending:
        yield bytes(pending)


def _peek(stream: BinaryIO, size: int) -> bytes:
    if hasattr(stream, "peek"):
        try:
            return stream.peek(size)[:size]
        except Exception:
            return b""
    try:
        pos = stream.tell()
        data = stream.read(size)
        stream.seek(pos)
        return data
    except Exception:
        return b""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated compressed data"
    if isinstance(exc, GzipDamage | ExpansionLimit):
        return str(exc)
    text = safe_name(str(exc))
    if len(text) > 200:
        text = text[:200] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_SIZE = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$")


def parse_size(text: str) -> int:
    """``20G``, ``512M``, ``1.5GiB``, ``4096`` -> bytes (binary units: G is GiB). ValueError if not."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (e.g. 20G, 512M)")
    number, unit = float(match.group(1)), match.group(2).lower()
    value = int(number * 1024 ** "_kmgtp".index(unit)) if unit else int(number)
    if value <= 0:
        raise ValueError(f"{text!r} must be more than zero")
    return value


def format_size(size: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value >= 10 or value == int(value) else f"{value:.1f} {unit}"
    return f"{size} B"


def from_bytes(display: str, data: bytes, host: str | None = None) -> EvidenceFile:
    """An in-memory evidence file: for tests, and for members already read into memory."""
    name = strip_gz(display.rsplit("!", 1)[-1].rsplit("/", 1)[-1])
    return EvidenceFile(
        display=display, name=name, opener=lambda: io.BytesIO(data), host=host, size=len(data)
    )
