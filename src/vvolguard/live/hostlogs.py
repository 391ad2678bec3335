"""vvold.log and its rotated generations of one host for the window: over SSH, or through vCenter.

* **SSH** (asyncssh, host keys verified against ``known_hosts`` or the ``UserKnownHostsFile`` of
  an OpenSSH ``--ssh-config``; keys from its ``IdentityFile``, or a password from the
  environment). The files are listed over SFTP where the host offers it (their times pick the
  generations that can hold the window: a rotated file last written before the window starts
  cannot), else with ``ls``; each is copied with ``cat`` as raw bytes (gzip stays gzip), streamed
  to disk in chunks, so a GB log never sits in memory.
* **vCenter** where SSH is closed: the DiagnosticManager's log for the host whose key names
  vvold, read with ``BrowseDiagnosticLog`` page by page and kept whole only for the window's lines.

Files land where a vm-support bundle has them: ``hosts/<host>/var/run/log/vvold.log``,
``vvold.N.gz`` (docs/evidence-formats.md §1.1, §3).
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from vvolguard.live.window import Window

LOG_DIR = "/var/run/log"
#: vvold.log and its generations (vvold.0.gz … vvold.7.gz; an uncompressed vvold.1 too).
VVOLD_FILE = re.compile(r"^vvold(?:\.log|\.\d+(?:\.gz)?|\.log\.\d+(?:\.gz)?)$")
CHUNK = 1 << 16
CONNECT_TIMEOUT_S = 20.0
#: Lines per BrowseDiagnosticLog call (vCenter caps a page; 1000 is what the Web Client asks for).
BROWSE_PAGE = 1000


class HostLogError(ConnectionError):
    """Why the logs could not be read (safe to print: no secret in it)."""


@dataclass(frozen=True)
class SshOptions:
    """How to reach the hosts over SSH. ``config`` is an OpenSSH client config (the lab's, or the
    user's); ``known_hosts`` overrides its UserKnownHostsFile; ``password`` only from the
    environment (never an argument)."""

    config: Path | None = None
    user: str | None = None
    known_hosts: Path | None = None
    password: str | None = None
    port: int | None = None

    def __repr__(self) -> str:  # never show the password
        return f"SshOptions(config={self.config}, user={self.user}, known_hosts={self.known_hosts})"


def _bytes(data: str | bytes | None) -> bytes:
    return data.encode() if isinstance(data, str) else (data or b"")


def _text(name: str | bytes) -> str:
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else name


def local_name(remote: str, host: str) -> str:
    return f"hosts/{host}/var/run/log/{remote.rsplit('/', 1)[-1]}"


def pick_generations(names_mtimes: list[tuple[str, float | None]], window: Window) -> list[str]:
    """The vvold files that can hold lines of the window: the live file always, a rotated one
    unless it was last written before the window started (then everything in it is older)."""
    start = window.start.timestamp()
    picked = []
    for name, mtime in sorted(names_mtimes):
        if not VVOLD_FILE.match(name):
            continue
        if name == "vvold.log" or mtime is None or mtime >= start:
            picked.append(name)
    return picked


def connect_kwargs(options: SshOptions) -> dict[str, Any]:
    """asyncssh.connect arguments: the OpenSSH config first, the command line over it."""
    kwargs: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S}
    if options.config is not None:
        kwargs["config"] = [str(options.config)]
    if options.user:
        kwargs["username"] = options.user
    if options.known_hosts is not None:
        kwargs["known_hosts"] = str(options.known_hosts)
    if options.password:
        kwargs["password"] = options.password
    if options.port:
        kwargs["port"] = options.port
    return kwargs


async def _ssh_collect(
    host: str,
    options: SshOptions,
    window: Window,
    open_file: Callable[[str], Any],
) -> list[str]:
    import asyncssh

    kwargs = connect_kwargs(options)
    written: list[str] = []
    async with asyncssh.connect(host, **kwargs) as conn:
        listing: list[tuple[str, float | None]]
        try:
            async with conn.start_sftp_client() as sftp:
                listing = [(_text(e.filename), e.attrs.mtime) for e in await sftp.readdir(LOG_DIR)]
        except (asyncssh.Error, OSError):
            res = await conn.run(f"ls {LOG_DIR}", check=False)
            if res.exit_status != 0:
                raise HostLogError(f"`ls {LOG_DIR}` failed: {str(res.stderr).strip()[:200]}") from None
            listing = [(n, None) for n in str(res.stdout).split()]
        for name in pick_generations(listing, window):
            path = f"{LOG_DIR}/{name}"
            async with conn.create_process(f"cat {shlex.quote(path)}", encoding=None) as proc:
                with open_file(name) as fh:
                    while True:
                        chunk = await proc.stdout.read(CHUNK)
                        if not chunk:
                            break
                        fh.write(chunk)
                await proc.wait()
                if proc.exit_status not in (0, None):
                    raise HostLogError(f"`cat {path}` exited with {proc.exit_status}")
            written.append(name)
    return written


def collect_over_ssh(
    host: str, options: SshOptions, window: Window, open_file: Callable[[str], Any]
) -> list[str]:
    """Copy the window's vvold generations of ``host``; returns the remote names copied.

    Every failure becomes :class:`HostLogError` with a reason a person can act on."""
    import asyncssh

    try:
        return asyncio.run(_ssh_collect(host, options, window, open_file))
    except HostLogError:
        raise
    except asyncssh.HostKeyNotVerifiable as exc:
        raise HostLogError(
            f"SSH host key of {host} not verified ({exc.reason}); add it to known_hosts "
            "(ssh-keyscan, then compare the fingerprint with the host's console)"
        ) from None
    except asyncssh.PermissionDenied:
        raise HostLogError(f"SSH login to {host} refused (permission denied)") from None
    except asyncssh.Error as exc:
        raise HostLogError(f"SSH to {host} failed: {exc.reason}") from None
    except (OSError, TimeoutError) as exc:
        raise HostLogError(
            f"SSH to {host} failed: {getattr(exc, 'strerror', None) or exc or type(exc).__name__}"
        ) from None


VASAPROVIDER_LIST = "esxcli storage vvol vasaprovider list"


async def _ssh_run(host: str, options: SshOptions, command: str) -> bytes:
    import asyncssh

    kwargs = connect_kwargs(options)
    async with asyncssh.connect(host, **kwargs) as conn:
        res = await conn.run(command, encoding=None, check=False)
        out, err = _bytes(res.stdout), _bytes(res.stderr)
        if res.exit_status != 0:
            why = err.decode("utf-8", "replace").strip()[:200]
            raise HostLogError(f"`{command}` on {host} exited with {res.exit_status}: {why}")
        return out


def run_on_host(host: str, options: SshOptions, command: str) -> bytes:
    """The output of one read-only command on ``host`` over SSH (HostLogError on any failure)."""
    import asyncssh

    try:
        return asyncio.run(_ssh_run(host, options, command))
    except HostLogError:
        raise
    except (asyncssh.Error, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
        raise HostLogError(f"SSH to {host} failed: {reason}") from None


def vvold_log_key(diag: Any, host_ref: Any) -> str | None:
    """The DiagnosticManager key of vvold's log on ``host_ref``, if vCenter offers one."""
    for desc in diag.QueryDescriptions(host=host_ref) or []:
        key = str(desc.key or "")
        if "vvold" in key.lower() or "vvold" in str(desc.fileName or "").lower():
            return key
    return None


def collect_via_vcenter(diag: Any, host_ref: Any, fh: IO[bytes]) -> int:
    """Copy the host's vvold log through ``BrowseDiagnosticLog``, page by page; returns lines.

    Raises LookupError when vCenter names no vvold log for the host."""
    key = vvold_log_key(diag, host_ref)
    if key is None:
        raise LookupError("vCenter's diagnostic manager lists no vvold log for this host")
    start = 1
    total = 0
    while True:
        page = diag.BrowseDiagnosticLog(host=host_ref, key=key, start=start, lines=BROWSE_PAGE)
        lines = list(page.lineText or [])
        for line in lines:
            fh.write(line.encode("utf-8", "replace") + b"\n")
        total += len(lines)
        if len(lines) < BROWSE_PAGE:
            break
        start = (page.lineEnd or start + len(lines) - 1) + 1
    return total
