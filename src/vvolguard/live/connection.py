"""One vCenter session for ``collect`` and ``validate``: the drain's login (TLS verified unless
``insecure``; a rejected certificate, login or address is a :class:`VSphereError` that says what
to do) and the lookups both commands share.

The password is passed to the login and dropped; the session cookie stays inside pyVmomi's stub
(SMS reuses it in memory); neither is ever on this object's ``repr``, in a message or a file.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vvolguard.drain.backends.vsphere import CA_FILE_ENV, Endpoint, VSphereError, login, ssl_context


@dataclass
class Session:
    si: Any
    endpoint: str  # host:port, what the limits store keys on
    ssl_context: ssl.SSLContext

    @property
    def content(self) -> Any:
        return self.si.content

    def close(self) -> None:
        from pyVim.connect import Disconnect

        with contextlib.suppress(Exception):  # the session may be gone already
            Disconnect(self.si)

    def __repr__(self) -> str:
        return f"Session({self.endpoint})"

    def all_hosts(self) -> list[Any]:
        from pyVmomi import vim

        view = self.content.viewManager.CreateContainerView(self.content.rootFolder, [vim.HostSystem], True)
        try:
            return list(view.view)
        finally:
            view.Destroy()

    def find_host(self, name: str) -> Any:
        """The HostSystem for ``name``: exact, then by short name (``esx-03`` finds
        ``esx-03.lab.local``). LookupError names the hosts there are."""
        hosts = self.all_hosts()
        wanted = name.lower()
        for h in hosts:
            if h.name.lower() == wanted:
                return h
        short = [h for h in hosts if h.name.lower().split(".")[0] == wanted.split(".")[0]]
        if len(short) == 1:
            return short[0]
        known = ", ".join(sorted(h.name for h in hosts)[:20]) or "none"
        raise LookupError(f"vCenter has no host {name!r} (hosts: {known})")


def datacenter_of(entity: Any) -> Any:
    from pyVmomi import vim

    node = entity
    while node is not None and not isinstance(node, vim.Datacenter):
        node = getattr(node, "parent", None)
    return node


def open_session(
    vcenter: str, user: str, password: str, *, insecure: bool = False, ca_file: Path | None = None
) -> Session:
    """Log in; :class:`VSphereError` (a ConnectionError) on any failure, with the remedy."""
    ep = Endpoint.parse(vcenter)
    ca_file = ca_file or (Path(os.environ[CA_FILE_ENV]) if os.environ.get(CA_FILE_ENV) else None)
    si = login(vcenter, user, password, insecure=insecure, ca_file=ca_file)
    return Session(si=si, endpoint=str(ep), ssl_context=ssl_context(insecure=insecure, ca_file=ca_file))


__all__ = ["Session", "VSphereError", "datacenter_of", "open_session"]
