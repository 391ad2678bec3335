"""The scenario's VASA provider as a TLS endpoint on loopback: it presents the provider certificate
the scenario left (expired, about to expire, or issued to another host name) in a real handshake,
so a client can fetch it as it would from the provider URL (``ssl`` handshake, certificate saved).

The provider's URL keeps the scenario's address (``https://10.21.88.113:8084/vasa``, what vvold's
lines and SMS name); the lab says where that URL is served (``LabInfo.providers``: URL ->
``127.0.0.1:port``). After the handshake it answers every request with HTTP 503 and closes: the
lab models no VASA API.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from pathlib import Path

RESPONSE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(reader.read(4096), 5)
        writer.write(RESPONSE)
        await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


async def serve_provider(cert_file: Path, key_file: Path, sock: socket.socket) -> asyncio.Server:
    """Listen on ``sock`` (bound to 127.0.0.1 beforehand, see ``ssh.reserve_port``) with the
    provider's certificate (in the caller's loop)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert_file), str(key_file))
    return await asyncio.start_server(_answer, sock=sock, ssl=context)
