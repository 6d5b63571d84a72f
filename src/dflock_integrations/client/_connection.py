"""One authenticated connection to one server, and the clock of its last request."""

from __future__ import annotations

import asyncio
import time

from dflockd_client import _async as wire
from dflockd_client import _protocol as proto

from dflock_integrations.errors import AuthenticationError, ServerUnavailable
from dflock_integrations.settings import DflockSettings, ServerAddress

# A ping must come back quickly; a server that takes longer is treated as gone.
PING_TIMEOUT_S = 5.0


class Connection:
    """An `AsyncConn` from dflockd-client plus what a pool needs to know about it."""

    __slots__ = ("last_used", "reader", "reused", "server", "wire", "writer")

    def __init__(
        self, server: ServerAddress, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.wire = wire.AsyncConn(reader, writer)
        self.last_used = time.monotonic()
        self.reused = False  # handed out from the pool at least once

    @property
    def closed(self) -> bool:
        """Closed by us, closed by the server, or holding bytes nobody asked for.

        An idle connection has no request in flight, so anything already buffered is
        the server's parting `error` before an idle-timeout close; reading it as the
        answer to our next request would be wrong. StreamReader has no public way to
        peek, hence the private attributes (present in CPython 3.12 and 3.13).
        """
        if self.writer.is_closing() or self.reader.at_eof():
            return True
        return bool(getattr(self.reader, "_buffer", b"")) or bool(
            getattr(self.reader, "_eof", False)
        )

    def idle_for(self, now: float) -> float:
        return now - self.last_used

    def touch(self) -> None:
        self.last_used = time.monotonic()

    async def ping(self) -> None:
        """One request, which also restarts the server's idle clock for this connection."""
        # Servers older than v1.11 answer `error` to ping; that still proves the
        # connection alive and resets its idle clock.
        await self.wire.command("ping", "_", "", read_timeout=PING_TIMEOUT_S)
        self.touch()

    def close(self) -> None:
        self.wire.close_nowait()


async def connect(
    server: ServerAddress,
    settings: DflockSettings,
    *,
    token: str | None,
    limit: int = proto.MAX_RESPONSE_LINE_BYTES,
) -> Connection:
    """Open, wrap in TLS if configured, and authenticate; errors name the server."""
    try:
        async with asyncio.timeout(settings.connect_timeout_s):
            reader, writer = await asyncio.open_connection(
                server.host,
                server.port,
                ssl=settings.ssl_context(),
                limit=limit,
                server_hostname=server.host if settings.tls else None,
            )
    except OSError as exc:  # TimeoutError included
        raise connect_error(server, settings, exc) from None
    conn = Connection(server, reader, writer)
    if token is not None:
        try:
            await wire.authenticate(conn.wire, token)
        except PermissionError:
            conn.close()
            raise auth_rejected(server) from None
        except BaseException as exc:
            conn.close()
            if isinstance(exc, OSError | TimeoutError):
                raise unavailable(server, exc) from None
            raise
    return conn


def unavailable(server: ServerAddress, exc: BaseException) -> ServerUnavailable:
    """A ServerUnavailable for an I/O failure on an open connection."""
    reason = str(exc) or type(exc).__name__
    return ServerUnavailable(
        f"lost the connection to dflockd at {server}: {reason}", server=str(server)
    )


def connect_error(
    server: ServerAddress, settings: DflockSettings, exc: OSError
) -> ServerUnavailable:
    """A ServerUnavailable for a failed connection attempt, naming the server."""
    if isinstance(exc, TimeoutError):
        return ServerUnavailable(
            f"dflockd at {server} did not accept a connection within "
            f"{settings.connect_timeout_s:g} s",
            server=str(server),
        )
    return ServerUnavailable(
        f"cannot connect to dflockd at {server}: {exc.strerror or exc}", server=str(server)
    )


def auth_rejected(server: ServerAddress) -> AuthenticationError:
    """The token itself is never part of the message."""
    return AuthenticationError(
        f"dflockd at {server} rejected the auth token (check DFLOCK_AUTH_TOKEN)"
    )
