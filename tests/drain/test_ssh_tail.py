"""SshTail against a real SSH server (asyncssh on localhost) running a real ``tail``: host keys
checked by default, lines delivered, reconnect after the server goes away, no duplicate and no
loss across the outage, and the password never shown."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from pathlib import Path

import asyncssh
import pytest

from vvolguard.drain.logsource import SshTail

PASSWORD = "s3cret-never-shown"

pytestmark = pytest.mark.skipif(shutil.which("tail") is None, reason="needs tail")


class _Server(asyncssh.SSHServer):
    def __init__(self, conns: set) -> None:
        self._conns = conns

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conns.add(conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == "root" and password == PASSWORD


async def _run_command(process: asyncssh.SSHServerProcess) -> None:
    """Run the client's command (tail) for real and stream its output back."""
    proc = await asyncio.create_subprocess_shell(
        process.command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                break
            process.stdout.write(chunk)
        process.exit(await proc.wait())
    except (asyncssh.Error, BrokenPipeError, ConnectionError):
        pass
    finally:
        if proc.returncode is None:
            proc.kill()


class SshServerThread:
    """An asyncssh server in its own loop/thread that can be stopped and started again."""

    def __init__(self, key: asyncssh.SSHKey, port: int) -> None:
        self.key = key
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = None
        self.conns: set = set()

    def start(self) -> None:
        async def go():
            return await asyncssh.create_server(
                lambda: _Server(self.conns),
                "127.0.0.1",
                self.port,
                server_host_keys=[self.key],
                process_factory=_run_command,
                encoding=None,
            )

        self.server = asyncio.run_coroutine_threadsafe(go(), self.loop).result(10)

    def stop(self) -> None:
        async def go():
            self.server.close()
            await self.server.wait_closed()
            for conn in list(self.conns):
                conn.close()  # the link drops, as when an ESXi host reboots hostd/sshd
            self.conns.clear()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(go(), self.loop).result(10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_until(tail: SshTail, want: bytes, timeout: float = 20.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got += tail.read()
        if want in got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"never got {want!r}; got {got!r}; state {tail.state}")


@pytest.fixture()
def server(tmp_path: Path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    srv = SshServerThread(key, _free_port())
    srv.start()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{srv.port} {key.export_public_key().decode()}")
    yield srv, known
    srv.close()


def test_host_key_checking_is_on_by_default(server, tmp_path: Path, monkeypatch) -> None:
    srv, _ = server
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))  # no ~/.ssh/known_hosts
    log = tmp_path / "vvold.log"
    log.write_text("")
    tail = SshTail("127.0.0.1", port=srv.port, path=str(log), password=PASSWORD, backoff_start=0.2)
    try:
        deadline = time.monotonic() + 10
        while tail.connects == 0 and "reconnecting" not in tail.state and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tail.connects == 0 and "reconnecting" in tail.state
        assert PASSWORD not in tail.state and PASSWORD not in repr(tail)
    finally:
        tail.close()


def test_follows_the_remote_log_and_survives_a_reconnect_without_loss_or_duplicates(
    server, tmp_path: Path
) -> None:
    srv, known = server
    log = tmp_path / "vvold.log"
    log.write_text("before the tail started\n")
    tail = SshTail(
        "127.0.0.1",
        port=srv.port,
        path=str(log),
        password=PASSWORD,
        known_hosts=str(known),
        backoff_start=0.2,
        backoff_max=0.5,
    )
    try:
        deadline = time.monotonic() + 10
        while tail.connects == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tail.connects == 1, tail.state
        time.sleep(0.5)  # let tail -F settle at the end of the file
        with log.open("a") as fh:
            fh.write("line 1\nline 2\n")
        got = _read_until(tail, b"line 2\n")
        assert b"before the tail started" not in got  # starts at the end, like tail -F -n 0

        srv.stop()
        with log.open("a") as fh:
            fh.write("line 3 (written while the link was down)\n")
        srv.start()
        deadline = time.monotonic() + 20
        while tail.connects < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tail.connects == 2, tail.state
        time.sleep(0.5)
        with log.open("a") as fh:
            fh.write("line 4\n")
        got += _read_until(tail, b"line 4\n")
        lines = got.decode().splitlines()
        assert lines == ["line 1", "line 2", "line 3 (written while the link was down)", "line 4"]
        assert PASSWORD not in repr(tail) and PASSWORD not in tail.state
    finally:
        tail.close()
