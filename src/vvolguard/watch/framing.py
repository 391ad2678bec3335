"""Syslog over a byte stream (TCP, TLS): RFC 6587 octet counting and newline framing.

ESXi 8.0 sends newline-terminated ("non-transparent") messages by default over TCP/TLS and
octet-counted ones (``LEN SP MSG``, RFC 5425/6587) when asked to, or always with RFC 5424
formatting. A sender keeps one framing per connection, but the framer decides per message
(a digit starts a count, anything else a newline-framed message) so a relay that mixes both is
read too. Memory is bounded: a message longer than ``max_message`` is dropped, without buffering
it, and counted.
"""

from __future__ import annotations


class StreamFramer:
    """Feed bytes, get whole messages. ``oversized`` counts what was dropped."""

    __slots__ = ("_buf", "_skip", "_skip_newline", "max_message", "oversized")

    def __init__(self, max_message: int = 64 * 1024) -> None:
        self.max_message = max_message
        self._buf = bytearray()
        self._skip = 0  # bytes of an over-long octet-counted message still to discard
        self._skip_newline = False  # inside an over-long newline-framed message
        self.oversized = 0

    def feed(self, data: bytes) -> list[bytes]:
        """The complete messages in what was buffered plus ``data`` (frames removed, no newline)."""
        if self._skip:
            cut = min(self._skip, len(data))
            self._skip -= cut
            data = data[cut:]
        if self._skip_newline:
            nl = data.find(b"\n")
            if nl < 0:
                return []
            self._skip_newline = False
            data = data[nl + 1 :]
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos, n = 0, len(buf)
        while pos < n:
            c = buf[pos]
            if 0x30 <= c <= 0x39:  # "LEN SP MSG", unless the digits are a PRI-less timestamp
                end = pos
                while end < n and end - pos <= 10 and 0x30 <= buf[end] <= 0x39:
                    end += 1
                if end == n and end - pos <= 10:
                    break  # the count may continue in the next read
                counted = end - pos <= 10 and buf[end] == 0x20
            else:
                counted = False
            if counted:
                length = int(bytes(buf[pos:end]))
                start = end + 1
                if length > self.max_message:
                    self.oversized += 1
                    have = n - start
                    if have >= length:
                        pos = start + length
                        continue
                    self._skip = length - have
                    pos = n
                    break
                if n - start < length:
                    break
                out.append(bytes(buf[start : start + length]).rstrip(b"\r\n"))
                pos = start + length
            elif c in (0x0A, 0x0D, 0x00, 0x20):  # separators and padding between frames
                pos += 1
            else:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    if n - pos > self.max_message:
                        self.oversized += 1
                        self._skip_newline = True
                        pos = n
                    break
                if nl - pos > self.max_message:
                    self.oversized += 1
                else:
                    out.append(bytes(buf[pos:nl]).rstrip(b"\r"))
                pos = nl + 1
        del buf[:pos]
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)
