"""A blocking connection for the sync client: dflockd-client's `SyncConn` plus pool facts."""

from __future__ import annotations

import select
import socket
import ssl
import time

from dflockd_client import _sync as low

from dflock_integrations.client._connection import (
    PING_TIMEOUT_S,
    auth_rejected,
    connect_error,
    unavailable,
)
from dflock_integrations.settings import DflockSettings, ServerAddress


class SyncConnection:
    __slots__ = ("last_used", "reused", "server", "sock", "wire")

    def __init__(self, server: ServerAddress, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.wire = low.SyncConn(sock)
        self.last_used = time.monotonic()
        self.reused = False

    @property
    def closed(self) -> bool:
        """Closed, or (being idle, with no request in flight) holding unasked-for bytes.

        Readable while idle means the server closed it or wrote its parting `error`.
        """
        if self.sock.fileno() == -1:
            return True
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    def idle_for(self, now: float) -> float:
        return now - self.last_used

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def ping(self) -> None:
        self.wire.command("ping", "_", "", read_timeout=PING_TIMEOUT_S)
        self.touch()

    def close(self) -> None:
        self.wire.close()


def connect_sync(
    server: ServerAddress, settings: DflockSettings, *, token: str | None
) -> SyncConnection:
    """The blocking twin of `_connection.connect`: same errors, same messages."""
    try:
        sock = socket.create_connection(
            (server.host, server.port), timeout=settings.connect_timeout_s
        )
    except OSError as exc:  # TimeoutError included
        raise connect_error(server, settings, exc) from None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = settings.ssl_context()
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname=server.host)
    except OSError as exc:
        sock.close()
        raise unavailable(server, exc) from None
    conn = SyncConnection(server, sock)
    if token is not None:
        try:
            low.authenticate(conn.wire, token)
        except PermissionError:
            conn.close()
            raise auth_rejected(server) from None
        except OSError as exc:
            conn.close()
            raise unavailable(server, exc) from None
    return conn
