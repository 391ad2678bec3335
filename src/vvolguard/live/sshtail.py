"""A live ``tail -F`` of a host's vvold.log for ``validate``: the drain's :class:`SshTail`, with
its connection settings resolved from an OpenSSH client config (``--ssh-config``).

Why resolve here: the lab (and many admins) describe hosts in an OpenSSH config (HostName, Port,
User, IdentityFile, UserKnownHostsFile); asyncssh reads that format itself
(``SSHClientConnectionOptions(config=...)``), so the drain's tail gets the same host, port, user,
keys and known_hosts files an ``ssh`` command would use. Host key checking stays on: a config
that turns it off is refused, not followed.
"""

from __future__ import annotations

from typing import Any

from vvolguard.drain.logsource import SshTail
from vvolguard.live.hostlogs import HostLogError, SshOptions, connect_kwargs


def resolved(host: str, options: SshOptions) -> dict[str, Any]:
    """``SshTail`` keyword arguments for ``host`` from ``options`` and its OpenSSH config."""
    import asyncssh

    kwargs = connect_kwargs(options)
    kwargs.pop("connect_timeout", None)
    kwargs.pop("password", None)  # handed to the tail below, never to an options object
    try:
        resolved_options = asyncssh.SSHClientConnectionOptions(host=host, **kwargs)
    except (OSError, ValueError, asyncssh.Error) as exc:
        raise HostLogError(f"cannot use the SSH settings for {host}: {exc}") from None
    known = resolved_options.known_hosts
    if known is None:
        raise HostLogError(f"the SSH config turns host key checking off for {host}; vvolguard keeps it on")
    return {
        "host": resolved_options.host,
        "port": resolved_options.port,
        "username": resolved_options.username,
        "client_keys": resolved_options.client_keys,
        "known_hosts": known,
        "password": options.password,
    }


class NamedTail:
    """A log source named by the host's vCenter name (the tail's own ``host`` is the address it
    connects to, ``127.0.0.1`` for the lab), so the drain's pressure is booked on the right host."""

    def __init__(self, host: str, tail: SshTail) -> None:
        self.host = host
        self.tail = tail

    def read(self) -> bytes:
        return self.tail.read()

    def close(self) -> None:
        self.tail.close()

    @property
    def state(self) -> str:
        return self.tail.state

    def __repr__(self) -> str:
        return f"NamedTail({self.host!r}, {self.tail!r})"


def open_tail(host: str, options: SshOptions, **tuning: Any) -> NamedTail:
    """A running tail of ``host``'s vvold.log (it connects in the background)."""
    args = resolved(host, options)
    return NamedTail(host, SshTail(args.pop("host"), **args, **tuning))
