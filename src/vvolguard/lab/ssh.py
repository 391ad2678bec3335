"""One SSH endpoint per simulated ESXi host (asyncssh on loopback), as collectors use a real one.

Each host has its own port and host key, and a root folder holding what the scenario left on
it (``var/run/log/vvold.log``, ``vvold.N.gz``; the Go simulator keeps appending to vvold.log as
migrations run) plus the ``esxcli storage vvol ... list`` outputs. Login is by the lab's client
key only (no password). The commands collectors run are answered, not executed on this machine:

* ``cat FILE...``, ``zcat FILE...`` / ``gzip -dc FILE...``, ``ls [-l] [-a] [-1] [PATH...]``,
  ``tail [-n N] [-c +N] [-F|-f] FILE``: on the host's files only (paths are resolved inside the
  host's root; anything outside is "No such file or directory");
* ``esxcli [--formatter=json|xml] storage vvol vasaprovider|protocolendpoint|storagecontainer
  list`` and ``esxcli system hostname get``: the scenario's outputs in ESXi's shape.

Anything else answers ``sh: <cmd>: not found`` with exit status 127, as ESXi's shell would.
SFTP is served too, read-only and rooted at the host's folder (``readdir /var/run/log`` gives
names, sizes and mtimes).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import shlex
import socket
import stat
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import asyncssh

#: esxcli namespaces answered, and the bundle file holding each output (json variant beside it).
ESXCLI_OUTPUTS = {
    ("storage", "vvol", "vasaprovider", "list"): "storage-vvol-vasaprovider-list",
    ("storage", "vvol", "protocolendpoint", "list"): "storage-vvol-protocolendpoint-list",
    ("storage", "vvol", "storagecontainer", "list"): "storage-vvol-storagecontainer-list",
    ("system", "hostname", "get"): "system-hostname-get",
}
FOLLOW_INTERVAL_S = 0.2
CHUNK = 1 << 16


@dataclass
class SshHost:
    name: str
    root: Path
    port: int
    host_key: asyncssh.SSHKey
    refused: bool = False
    #: The port, bound (not listening) since it was chosen, so nothing else takes it before the
    #: server listens on it; None for a refused host, whose port nothing listens on.
    sock: socket.socket | None = None


class _Session:
    """One command on one host: parse, answer, exit."""

    def __init__(self, host: SshHost, process: asyncssh.SSHServerProcess) -> None:
        self.host = host
        self.process = process

    def out(self, data: bytes | str) -> None:
        self.process.stdout.write(data.encode() if isinstance(data, str) else data)

    def err(self, text: str) -> None:
        self.process.stderr.write(text.encode())

    def resolve(self, path: str) -> Path | None:
        """``path`` inside the host's root, or None when it leaves it."""
        pure = PurePosixPath("/") / path
        parts: list[str] = []
        for part in pure.parts[1:]:
            if part == "..":
                if not parts:
                    return None
                parts.pop()
            elif part not in (".", ""):
                parts.append(part)
        return self.host.root.joinpath(*parts)

    async def run(self) -> int:
        command = self.process.command or ""
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            self.err(f"sh: syntax error: {exc}\n")
            return 2
        if not argv:
            self.err("sh: interactive shells are not served by the lab; run a command\n")
            return 1
        name = argv[0].rsplit("/", 1)[-1]
        handler = {
            "cat": self.cat,
            "zcat": self.zcat,
            "gzip": self.gzip,
            "ls": self.ls,
            "tail": self.tail,
            "esxcli": self.esxcli,
            "localcli": self.esxcli,
        }.get(name)
        if handler is None:
            self.err(f"sh: {name}: not found\n")
            return 127
        return await handler(argv[1:])

    def _missing(self, cmd: str, path: str) -> None:
        self.err(f"{cmd}: can't open '{path}': No such file or directory\n")

    async def _stream(self, path: Path, offset: int = 0, *, decompress: bool = False) -> None:
        opener = gzip.open if decompress else open
        with opener(path, "rb") as fh:
            if offset:
                fh.seek(offset)
            while chunk := fh.read(CHUNK):
                self.out(chunk)
                await self.process.stdout.drain()

    async def cat(self, args: list[str]) -> int:
        status = 0
        for arg in args:
            path = self.resolve(arg)
            if path is None or not path.is_file():
                self._missing("cat", arg)
                status = 1
                continue
            await self._stream(path)
        return status

    async def zcat(self, args: list[str]) -> int:
        status = 0
        for arg in [a for a in args if not a.startswith("-")]:
            path = self.resolve(arg)
            if path is None or not path.is_file():
                self._missing("zcat", arg)
                status = 1
                continue
            try:
                await self._stream(path, decompress=True)
            except (OSError, EOFError) as exc:
                self.err(f"zcat: {arg}: {exc}\n")
                status = 1
        return status

    async def gzip(self, args: list[str]) -> int:
        flags = "".join(a[1:] for a in args if a.startswith("-") and not a.startswith("--"))
        if "d" in flags and "c" in flags:
            return await self.zcat(args)
        self.err("gzip: only -dc is served by the lab\n")
        return 1

    async def ls(self, args: list[str]) -> int:
        long = any(a.startswith("-") and "l" in a for a in args)
        show_all = any(a.startswith("-") and "a" in a for a in args)
        targets = [a for a in args if not a.startswith("-")] or ["/"]
        status = 0
        for arg in targets:
            path = self.resolve(arg)
            if path is None or not path.exists():
                self.err(f"ls: {arg}: No such file or directory\n")
                status = 1
                continue
            entries = sorted(path.iterdir()) if path.is_dir() else [path]
            if len(targets) > 1 and path.is_dir():
                self.out(f"{arg}:\n")
            for entry in entries:
                if entry.name.startswith(".") and not show_all:
                    continue
                label = entry.name if path.is_dir() else arg
                self.out(_ls_line(entry, label) if long else label + "\n")
        return status

    async def tail(self, args: list[str]) -> int:
        follow = False
        lines: int | None = 10
        from_byte: int | None = None
        files: list[str] = []
        it = iter(args)
        for arg in it:
            if arg in ("-F", "-f", "--follow", "--follow=name", "-qF"):
                follow = True
            elif arg == "-n":
                lines = _count(next(it, "10"))
            elif arg.startswith("-n"):
                lines = _count(arg[2:])
            elif arg == "-c":
                value = next(it, "+1")
                from_byte = max(0, int(value.lstrip("+")) - 1) if value.startswith("+") else None
                lines = None
            elif arg.startswith("-"):
                continue
            else:
                files.append(arg)
        if len(files) != 1:
            self.err("tail: the lab serves tail on one file\n")
            return 1
        path = self.resolve(files[0])
        if (path is None or not path.is_file()) and not follow:
            self.err(f"tail: can't open '{files[0]}': No such file or directory\n")
            return 1
        offset = 0
        if path is not None and path.is_file():
            size = path.stat().st_size
            if from_byte is not None:
                offset = min(from_byte, size)
            elif lines is not None:
                offset = _offset_of_last_lines(path, lines)
            await self._stream(path, offset)
            offset = path.stat().st_size if offset <= size else offset
        if not follow or path is None:
            return 0
        while not self.process.stdout.is_closing():
            await asyncio.sleep(FOLLOW_INTERVAL_S)
            if not path.is_file():
                continue
            size = path.stat().st_size
            if size < offset:  # rotated or truncated: read the new file from the start
                offset = 0
            if size > offset:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read(size - offset)
                offset += len(data)
                self.out(data)
                await self.process.stdout.drain()
        return 0

    async def esxcli(self, args: list[str]) -> int:
        formatter = "text"
        words: list[str] = []
        for arg in args:
            if arg.startswith("--formatter="):
                formatter = arg.split("=", 1)[1]
            elif arg.startswith("-"):
                continue
            else:
                words.append(arg)
        name = ESXCLI_OUTPUTS.get(tuple(words))
        if name is None:
            self.err(f"Error: Unknown command or namespace {' '.join(words)}\n")
            return 1
        base = self.host.root / "commands" / f"localcli_{name}.txt"
        if formatter == "json":
            base = self.host.root / "json" / f"localcli_{name}.json"
        elif formatter != "text":
            self.err(f"Error: the lab serves --formatter=json or the default text, not {formatter}\n")
            return 1
        if not base.is_file():
            self.err(f"Error: {' '.join(words)} is not available on this host\n")
            return 1
        self.out(base.read_bytes())
        return 0


def _count(text: str) -> int:
    try:
        return abs(int(text.lstrip("+")))
    except ValueError:
        return 10


def _offset_of_last_lines(path: Path, lines: int) -> int:
    """Byte offset where the last ``lines`` lines of ``path`` start (reads backwards in blocks)."""
    size = path.stat().st_size
    if lines <= 0:
        return size
    with open(path, "rb") as fh:
        pos = size
        seen = 0
        # A trailing newline ends the last line; it does not start one.
        if size:
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                pos -= 1
        while pos > 0:
            step = min(CHUNK, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step)
            for i in range(len(block) - 1, -1, -1):
                if block[i : i + 1] == b"\n":
                    seen += 1
                    if seen == lines:
                        return pos + i + 1
    return 0


def _ls_line(path: Path, label: str) -> str:
    st = path.stat()
    when = datetime.fromtimestamp(st.st_mtime, UTC).strftime("%b %d %H:%M")
    return f"{stat.filemode(st.st_mode)}    1 root     root     {st.st_size:>10} {when} {label}\n"


class _ReadOnlySftp(asyncssh.SFTPServer):
    """SFTP rooted at the host's folder; anything that would change a file is refused."""

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC):
            raise asyncssh.SFTPPermissionDenied("the lab's hosts are read-only")
        return super().open(path, pflags, attrs)

    def _refuse(self, *args: object) -> None:
        raise asyncssh.SFTPPermissionDenied("the lab's hosts are read-only")

    remove = rename = posix_rename = mkdir = rmdir = setstat = fsetstat = symlink = link = _refuse  # type: ignore[assignment]


class _Server(asyncssh.SSHServer):
    def __init__(self, authorized: asyncssh.SSHAuthorizedKeys, user: str) -> None:
        self._authorized = authorized
        self._user = user

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self._user and self._authorized.validate(key, "127.0.0.1", "127.0.0.1") is not None

    def password_auth_supported(self) -> bool:
        return False


def free_port() -> int:
    """A port nothing listens on now (for a refused host)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reserve_port() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1, to listen on later. Why not a port number:
    one chosen free and bound only later can be taken meanwhile (by another lab or test on the
    machine), and the lab then failed to start with "address already in use"."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class SshEndpoints:
    """The SSH servers of all hosts, in one asyncio loop on a background thread."""

    hosts: list[SshHost]
    client_public_key: str
    user: str = "root"
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _thread: threading.Thread | None = None
    _servers: list[asyncio.AbstractServer | asyncssh.SSHAcceptor] = field(default_factory=list)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop.run_forever, name="lab-ssh", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=30)

    async def _listen(self) -> None:
        authorized = asyncssh.import_authorized_keys(self.client_public_key)
        for host in self.hosts:
            if host.refused:
                continue

            async def handle(process: asyncssh.SSHServerProcess, host: SshHost = host) -> None:
                status = 1
                try:
                    status = await _Session(host, process).run()
                except (asyncssh.Error, BrokenPipeError, ConnectionError):
                    pass
                finally:
                    with contextlib.suppress(Exception):
                        process.exit(status)

            where: dict[str, Any] = (
                {"sock": host.sock} if host.sock is not None else {"host": "127.0.0.1", "port": host.port}
            )
            server = await asyncssh.create_server(
                lambda: _Server(authorized, self.user),
                **where,
                server_host_keys=[host.host_key],
                process_factory=handle,
                sftp_factory=lambda chan, root=host.root: _ReadOnlySftp(chan, chroot=str(root).encode()),
                encoding=None,
            )
            self._servers.append(server)

    def serve(self, factory: Callable[[], Awaitable[asyncio.AbstractServer]]) -> None:
        """Run another server (the provider's TLS endpoint) in the same loop; stopped with these."""

        async def start() -> None:
            self._servers.append(await factory())

        asyncio.run_coroutine_threadsafe(start(), self._loop).result(timeout=30)

    def _release_ports(self) -> None:
        """Close the reserved sockets (a server closes its own; one never listened is closed here)."""
        for host in self.hosts:
            if host.sock is not None:
                host.sock.close()

    def stop(self) -> None:
        async def close() -> None:
            for server in self._servers:
                server.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 5)

        if self._thread is None:
            self._release_ports()
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._release_ports()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None


def write_host_tree(root: Path, files: dict[str, bytes], mtime: float | None = None) -> None:
    """Lay one host's bundle files out under ``root`` as they sit on the host."""
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            import os

            os.utime(path, (mtime, mtime))


def ssh_config_text(hosts: Iterable[SshHost], user: str, identity: Path, known_hosts: Path) -> str:
    """An OpenSSH client config: one ``Host`` entry per simulated host (full and short name)."""
    blocks = [f"# vvolguard lab: one entry per simulated ESXi host ({time.strftime('%Y-%m-%d %H:%M:%S')})\n"]
    for host in hosts:
        short = host.name.split(".", 1)[0]
        names = host.name if short == host.name else f"{host.name} {short}"
        blocks.append(
            f"Host {names}\n"
            f"    HostName 127.0.0.1\n"
            f"    Port {host.port}\n"
            f"    User {user}\n"
            f"    IdentityFile {identity}\n"
            f"    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {known_hosts}\n"
            f"    StrictHostKeyChecking yes\n"
        )
    return "\n".join(blocks)


def known_hosts_text(hosts: Iterable[SshHost]) -> str:
    lines = []
    for host in hosts:
        key = host.host_key.export_public_key("openssh").decode().strip()
        lines.append(f"[127.0.0.1]:{host.port},[{host.name}]:{host.port} {key}\n")
    return "".join(lines)
