"""A small SSH server per simulated ESXi host, for the live tests until the lab serves its own.

Real asyncssh on loopback with a real host key and key authentication, answering the commands
collect and validate send to ESXi: ``ls DIR``, ``cat FILE``, ``tail -n N FILE`` and
``tail -n 0 -F FILE``, plus SFTP. ``root`` is the host's file system (``root/var/run/log/vvold.log``,
often a link to the vcsim's ``<host>.vvold.log``), so what the simulator writes is what the host
serves. ``refuse=True`` closes every connection before authentication (SSH disabled).
"""

from __future__ import annotations

import asyncio
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh


@dataclass
class FakeEsx:
    name: str  # as vCenter names the host
    root: Path
    refuse: bool = False
    port: int = 0
    host_key: asyncssh.SSHKey = field(default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519"))
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncssh.SSHAcceptor | None = None
    _thread: threading.Thread | None = None

    # -- commands --------------------------------------------------------------------------

    def _local(self, remote: str) -> Path:
        return self.root / remote.lstrip("/")

    async def _handle(self, process: asyncssh.SSHServerProcess) -> None:
        try:
            words = shlex.split(process.command or "")
            status = await self._run(words, process)
        except (OSError, asyncssh.Error, BrokenPipeError):
            status = 1
        process.exit(status)

    async def _run(self, words: list[str], process: asyncssh.SSHServerProcess) -> int:
        out = process.stdout
        if words[:1] == ["ls"] and len(words) == 2:
            folder = self._local(words[1])
            if not folder.is_dir():
                process.stderr.write(f"ls: {words[1]}: No such file or directory\n".encode())
                return 1
            out.write(("\n".join(sorted(p.name for p in folder.iterdir())) + "\n").encode())
            return 0
        if words[:1] == ["cat"] and len(words) == 2:
            local = self._local(words[1])
            if not local.exists():
                process.stderr.write(f"cat: {words[1]}: No such file or directory\n".encode())
                return 1
            with local.open("rb") as fh:
                while chunk := fh.read(65536):
                    out.write(chunk)
                    await out.drain()
            return 0
        if words[:1] == ["tail"] and len(words) > 1:
            local = self._local(words[-1])
            count = int(words[words.index("-n") + 1]) if "-n" in words else 10
            data = local.read_bytes() if local.exists() else b""
            if count:
                out.write(b"".join(data.splitlines(keepends=True)[-count:]))
            if "-F" not in words:
                return 0
            offset = len(data)
            while not process.channel.is_closing():
                size = local.stat().st_size if local.exists() else 0
                if size < offset:
                    offset = 0
                if size > offset:
                    with local.open("rb") as fh:
                        fh.seek(offset)
                        chunk = fh.read(size - offset)
                    offset += len(chunk)
                    out.write(chunk)
                    await out.drain()
                await asyncio.sleep(0.05)
            return 0
        process.stderr.write(f"sh: {words[:1]}: not found\n".encode())
        return 127

    # -- server ----------------------------------------------------------------------------

    def start(self, client_key: asyncssh.SSHKey) -> None:
        ready = threading.Event()

        class Server(asyncssh.SSHServer):
            def __init__(inner) -> None:
                inner.conn: asyncssh.SSHServerConnection | None = None

            def connection_made(inner, conn: asyncssh.SSHServerConnection) -> None:
                if self.refuse:
                    conn.abort()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            def sftp(chan: asyncssh.SSHServerChannel) -> asyncssh.SFTPServer:
                return asyncssh.SFTPServer(chan, chroot=str(self.root).encode())

            async def serve() -> None:
                self._server = await asyncssh.create_server(
                    Server,
                    "127.0.0.1",
                    self.port,
                    server_host_keys=[self.host_key],
                    authorized_client_keys=asyncssh.import_authorized_keys(
                        client_key.export_public_key().decode()
                    ),
                    process_factory=self._handle,
                    sftp_factory=sftp,
                    encoding=None,
                )
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()

            loop.run_until_complete(serve())
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-esx-{self.name}", daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        def close() -> None:
            if self._server is not None:
                self._server.close()
            loop.stop()

        loop.call_soon_threadsafe(close)
        if self._thread is not None:
            self._thread.join(5)


def write_ssh_config(
    directory: Path, hosts: list[FakeEsx], client_key: asyncssh.SSHKey, user: str = "root"
) -> Path:
    """An OpenSSH client config with a Host entry per fake host, as the lab's --json names it."""
    key_file = directory / "id_ed25519"
    key_file.write_bytes(client_key.export_private_key())
    key_file.chmod(0o600)
    known = directory / "known_hosts"
    known.write_text(
        "".join(f"[127.0.0.1]:{h.port} {h.host_key.export_public_key().decode().strip()}\n" for h in hosts)
    )
    config = directory / "ssh_config"
    config.write_text(
        "".join(
            f"Host {h.name}\n  HostName 127.0.0.1\n  Port {h.port}\n  User {user}\n"
            f"  IdentityFile {key_file}\n  UserKnownHostsFile {known}\n"
            for h in hosts
        )
    )
    return config


def start_hosts(
    directory: Path, roots: dict[str, Path], refuse: Callable[[str], bool] = lambda name: False
) -> tuple[list[FakeEsx], Path]:
    """Start one fake host per ``roots`` entry (name -> its file system); returns them and the
    ssh_config naming them."""
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    hosts = [FakeEsx(name, root, refuse=refuse(name)) for name, root in roots.items()]
    for h in hosts:
        h.start(client_key)
    return hosts, write_ssh_config(directory, hosts, client_key)
