"""The dflockd feed of a subscription: a listening connection on every server.

A listening connection carries two kinds of lines: answers to our own requests and
`sig` lines the server pushes at any time; the connection's dispatcher routes them
apart (pushes into the subscription's queue). The connection is pinged before the
server's idle limit, and re-opened and re-subscribed when it fails; signals sent
while it was down are not delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._async._connection import AsyncConnection, open_connection
from dflock_integrations.client._timing import Deadline
from dflock_integrations.errors import SignalsUnsupported
from dflock_integrations.settings import ServerAddress

if TYPE_CHECKING:
    from dflock_integrations.client._async._client import AsyncDflockClient
    from dflock_integrations.client._signals import AsyncSubscription

log = logging.getLogger("dflock_integrations")

REQUEST_TIMEOUT_S = 5.0
RECONNECT_MAX_DELAY_S = 2.0
NO_SIGNALS = (
    "servers before v1.11 and dflockd 2.x have no signals: set DFLOCK_SIGNALS_URL to a "
    "NATS or Redis server to carry them"
)


class DflockdFeed:
    """Subscribes on every server; raises if any of them cannot or will not."""

    def __init__(self, client: AsyncDflockClient, subscription: AsyncSubscription) -> None:
        self._links = [_Link(client, subscription, server) for server in client.settings.servers]

    async def open(self) -> None:
        await asyncio.gather(*(link.open() for link in self._links))
        for link in self._links:
            link.supervise()

    async def aclose(self) -> None:
        await asyncio.gather(*(link.close() for link in self._links))


class _Link:
    """The subscription's connection to one server."""

    def __init__(
        self, client: AsyncDflockClient, subscription: AsyncSubscription, server: ServerAddress
    ) -> None:
        self._client = client
        self._sub = subscription
        self._server = server
        self._source = str(server)
        self._conn: AsyncConnection | None = None
        self._gone: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect and subscribe; pushes are routed from the first byte."""
        client = self._client
        settings = client.settings
        gone = asyncio.Event()
        conn = await open_connection(
            self._server,
            tls=client._tls,
            token=client._token,
            connect_timeout_s=settings.connect_timeout_s,
            deadline=Deadline(settings.connect_timeout_s),
            on_push=lambda push: self._sub._deliver(push.channel, push.payload, self._source),
        )
        conn.on_close = lambda error: gone.set()
        try:
            answer = await conn.exchange(
                protocol.listen(self._sub.pattern, self._sub.group),
                protocol.DONE,
                REQUEST_TIMEOUT_S,
            )
        except BaseException:
            conn.close()
            raise
        if not isinstance(answer, protocol.Done):
            conn.close()
            raise SignalsUnsupported(
                f"dflockd at {self._server} refused to listen to {self._sub.pattern!r} "
                f"({answer}): {NO_SIGNALS} (a server may also cap subscriptions per "
                "connection)"
            )
        self._conn, self._gone = conn, gone

    def supervise(self) -> None:
        self._supervisor = asyncio.ensure_future(self._supervise())

    async def _supervise(self) -> None:
        delay = 0.05
        idle_s = self._client.settings.server_read_timeout_s
        while True:
            await self._keep_alive(idle_s)
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_DELAY_S)
                try:
                    await self.open()
                except Exception as exc:
                    log.debug("dflock listener reconnect to %s failed: %s", self._server, exc)
                    continue
                self._sub.reconnects += 1
                delay = 0.05
                break

    async def _keep_alive(self, idle_s: float) -> None:
        """Ping before the server's idle limit until the connection goes."""
        conn, gone = self._conn, self._gone
        assert conn is not None and gone is not None
        while not conn.closed:
            try:
                await asyncio.wait_for(gone.wait(), idle_s * 0.3)
            except asyncio.TimeoutError:
                pass
            else:
                break
            try:
                # Before v1.14 `ping` is an unknown request: its `error` keeps the line alive too.
                await conn.exchange(protocol.PING, protocol.DONE, REQUEST_TIMEOUT_S)
            except Exception:
                conn.close()
        log.warning("dflock listener: the connection to %s closed; reconnecting", self._server)

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self._conn is not None:
            self._conn.close()
            self._conn = None
