"""Live vvold.log sources for the drain: a local file tail and an SSH ``tail -F``.

Both are non-blocking ``read() -> bytes`` objects (``backends.base.LogSource``) that the
controller polls once per tick, so a slow SSH link never stalls the decisions.

* :class:`FileTail` follows a local path across rotation: when the inode changes (ESXi renames
  ``vvold.log`` and starts a new one) it reads what is left of the old file, then opens the new
  one from its start; when the file shrinks (copytruncate) it starts again at 0.
* :class:`SshTail` runs ``tail -F`` on the ESXi host over asyncssh in a background thread, and
  reconnects with exponential back-off when the link drops. Host keys are checked against
  ``known_hosts`` unless the caller explicitly passes ``known_hosts=None``. The password is kept
  in a private attribute that ``repr`` and every message leave out.

Memory is bounded: at most ``max_chunk`` bytes are returned per read and the SSH buffer keeps at
most ``max_buffer`` bytes (older bytes are dropped and counted, never accumulated).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import threading
from pathlib import Path
from typing import IO, Any

DEFAULT_REMOTE_PATH = "/var/run/log/vvold.log"


class FileTail:
    """Follow one local file, surviving rotation and truncation."""

    def __init__(
        self,
        path: Path | str,
        host: str,
        *,
        from_start: bool = False,
        max_chunk: int = 1 << 20,
    ) -> None:
        self.path = Path(path)
        self.host = host
        self.max_chunk = max_chunk
        self.rotations = 0
        self._fh: IO[bytes] | None = None
        self._ino: int | None = None
        self._open(at_end=not from_start)

    def __repr__(self) -> str:
        return f"FileTail({str(self.path)!r}, host={self.host!r})"

    def _open(self, *, at_end: bool) -> None:
        try:
            fh = self.path.open("rb")
        except OSError:
            self._fh, self._ino = None, None
            return
        st = os.fstat(fh.fileno())
        self._fh, self._ino = fh, st.st_ino
        if at_end:
            fh.seek(0, os.SEEK_END)

    def read(self) -> bytes:
        if self._fh is None:
            self._open(at_end=False)  # the file appeared (or reappeared) since
            if self._fh is None:
                return b""
        assert self._fh is not None
        data = self._fh.read(self.max_chunk)
        if data:
            return data
        # Nothing new here: has the file been rotated or truncated under us?
        try:
            st = os.stat(self.path)
        except OSError:
            return b""  # between rename and re-create; keep the old handle for now
        if st.st_ino != self._ino:
            self._fh.close()
            self.rotations += 1
            self._open(at_end=False)
            return self._fh.read(self.max_chunk) if self._fh else b""
        if st.st_size < self._fh.tell():
            self.rotations += 1
            self._fh.seek(0)
            return self._fh.read(self.max_chunk)
        return b""

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class SshTail:
    """``tail -F`` of a file on an ESXi host over SSH, with reconnects.

    ``state`` is a short, secret-free text for the progress display ("connected",
    "reconnecting in 4 s: ConnectionLost"). ``connects`` counts successful connections.
    """

    def __init__(
        self,
        host: str,
        *,
        path: str = DEFAULT_REMOTE_PATH,
        username: str = "root",
        password: str | None = None,
        client_keys: list[str] | None = None,
        port: int = 22,
        known_hosts: Any = (),
        backoff_start: float = 1.0,
        backoff_max: float = 60.0,
        max_chunk: int = 1 << 20,
        max_buffer: int = 8 << 20,
    ) -> None:
        self.host = host
        self.path = path
        self.username = username
        self.port = port
        self.__password = password
        self._client_keys = client_keys
        # () means "asyncssh's default": ~/.ssh/known_hosts, checking on.
        self._known_hosts = known_hosts
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self.max_chunk = max_chunk
        self.max_buffer = max_buffer
        self.state = "starting"
        self.connects = 0
        self.dropped_bytes = 0
        self._buf = bytearray()
        self._tail_bytes = b""
        self._last_line: bytes | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=f"ssh-tail-{host}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"SshTail({self.username}@{self.host}:{self.port}{self.path}, state={self.state!r})"

    # -- the reader side ---------------------------------------------------------------------

    def read(self) -> bytes:
        with self._lock:
            data = bytes(self._buf[: self.max_chunk])
            del self._buf[: self.max_chunk]
        return data

    def close(self) -> None:
        self._stop.set()
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(lambda: None)
        self._thread.join(timeout=10)

    # -- the background side -----------------------------------------------------------------

    def _append(self, data: bytes) -> None:
        self._tail_bytes = (self._tail_bytes + data)[-8192:]
        complete = self._tail_bytes.rsplit(b"\n", 1)[0]
        if b"\n" in self._tail_bytes:
            self._last_line = complete.rsplit(b"\n", 1)[-1] + b"\n"
        with self._lock:
            self._buf += data
            excess = len(self._buf) - self.max_buffer
            if excess > 0:
                del self._buf[:excess]
                self.dropped_bytes += excess

    async def _catch_up(self, conn: Any) -> None:
        """After a reconnect, fetch the last lines and keep those after the last line already
        delivered, so the outage loses nothing short and duplicates nothing."""
        res = await conn.run(f"tail -n 500 {shlex.quote(self.path)}", encoding=None, check=False)
        lines = (res.stdout or b"").splitlines(keepends=True)
        last = self._last_line
        if last is not None and last in lines:
            idx = len(lines) - 1 - lines[::-1].index(last)
            lines = lines[idx + 1 :]
        if lines:
            self._append(b"".join(lines))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._follow())
        finally:
            loop.close()

    async def _follow(self) -> None:
        import asyncssh

        delay = self.backoff_start
        first = True
        while not self._stop.is_set():
            try:
                kwargs: dict[str, Any] = {
                    "port": self.port,
                    "username": self.username,
                    "password": self.__password,
                    "client_keys": self._client_keys,
                }
                if self._known_hosts != ():
                    kwargs["known_hosts"] = self._known_hosts
                async with asyncssh.connect(self.host, **kwargs) as conn:
                    self.connects += 1
                    self.state = "connected"
                    delay = self.backoff_start
                    if not first:
                        await self._catch_up(conn)
                    first = False
                    cmd = f"tail -n 0 -F {shlex.quote(self.path)}"
                    async with conn.create_process(cmd, encoding=None) as proc:
                        while not self._stop.is_set():
                            try:
                                data = await asyncio.wait_for(proc.stdout.read(65536), 0.5)
                            except TimeoutError:
                                continue
                            if not data:
                                raise ConnectionError("tail ended")
                            self._append(data)
            except Exception as exc:  # every failure means: wait, then reconnect
                if self._stop.is_set():
                    break
                self.state = f"reconnecting in {delay:.0f} s: {type(exc).__name__}"
                deadline = asyncio.get_running_loop().time() + delay
                while not self._stop.is_set() and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.1)
                delay = min(self.backoff_max, delay * 2)
        self.state = "closed"
