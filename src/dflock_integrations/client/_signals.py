"""Signal payloads and `AsyncSubscription`, a listener on every server.

A listening connection carries two kinds of lines: answers to our own requests and
`sig` lines the server pushes at any time; the connection's dispatcher routes them
apart (pushes into the subscription's queue). The connection is pinged before the
server's idle limit, and re-opened and re-subscribed when it fails; signals sent
while it was down are not delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._async._connection import AsyncConnection, open_connection
from dflock_integrations.client._timing import Deadline
from dflock_integrations.errors import SignalsUnsupported
from dflock_integrations.settings import ServerAddress

if TYPE_CHECKING:
    from dflock_integrations.client._async._client import AsyncDflockClient
    from dflock_integrations.client._sync._client import SyncDflockClient

log = logging.getLogger("dflock_integrations")

MAX_PAYLOAD_BYTES = 64 * 1024
REQUEST_TIMEOUT_S = 5.0
RECONNECT_MAX_DELAY_S = 2.0


@dataclass(frozen=True, slots=True)
class Signal:
    channel: str  # without the key prefix
    payload: str
    server: str

    def json(self) -> Any:
        """The payload parsed as JSON."""
        return json.loads(self.payload)


def encode_payload(payload: object) -> str:
    """A payload as one protocol line: strings as they are, anything else as JSON."""
    if isinstance(payload, str):
        text = payload
    else:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    if not text.strip():
        raise ValueError("signal payload must not be blank")
    if "\n" in text or "\r" in text:
        raise ValueError(
            "signal payload must be one line; pass a dict or list to send it as JSON, "
            "which escapes newlines"
        )
    if len(text.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"signal payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    return text


class AsyncSubscription:
    """Signals matching one pattern, from every server, as an async iterator."""

    def __init__(
        self, client: AsyncDflockClient, pattern: str, *, group: str | None, max_queue: int
    ) -> None:
        self.pattern = pattern  # as sent: with the key prefix
        self.group = group
        self.dropped = 0  # signals discarded because the queue was full
        self.reconnects = 0
        self._client = client
        self._queue: asyncio.Queue[Signal] = asyncio.Queue(maxsize=max_queue)
        self._links = [_Link(self, server) for server in client.settings.servers]
        self._started = False
        self._closed = False

    async def start(self) -> Self:
        """Subscribe on every server; raises if any of them cannot or will not."""
        if self._started:
            return self
        self._started = True
        try:
            await asyncio.gather(*(link.open() for link in self._links))
        except BaseException:
            await self.aclose()
            raise
        for link in self._links:
            link.supervise()
        return self

    async def get(self, timeout_s: float | None = None) -> Signal | None:
        """The next signal, or None after `timeout_s` seconds without one."""
        await self.start()
        try:
            return await asyncio.wait_for(self._queue.get(), timeout_s)
        except asyncio.TimeoutError:
            return None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Signal:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        await self.start()
        return await self._queue.get()

    async def aclose(self) -> None:
        """Close every listening connection; the servers drop the subscription with it."""
        self._closed = True
        await asyncio.gather(*(link.close() for link in self._links))

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _deliver(self, push: protocol.Push, server: ServerAddress) -> None:
        prefix = self._client.settings.key_prefix
        channel = push.channel[len(prefix) :] if push.channel.startswith(prefix) else push.channel
        signal = Signal(channel, push.payload, str(server))
        if self._queue.full():
            # Keep the newest: a consumer that fell behind wants the current state.
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(signal)


class _Link:
    """The subscription's connection to one server."""

    def __init__(self, subscription: AsyncSubscription, server: ServerAddress) -> None:
        self._sub = subscription
        self._server = server
        self._conn: AsyncConnection | None = None
        self._gone: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect and subscribe; pushes are routed from the first byte."""
        client = self._sub._client
        settings = client.settings
        gone = asyncio.Event()
        conn = await open_connection(
            self._server,
            tls=client._tls,
            token=client._token,
            connect_timeout_s=settings.connect_timeout_s,
            deadline=Deadline(settings.connect_timeout_s),
            on_push=lambda push: self._sub._deliver(push, self._server),
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
                f"({answer}): servers before v1.11 and dflockd 2.x have no signals, and a "
                "server may cap subscriptions per connection"
            )
        self._conn, self._gone = conn, gone

    def supervise(self) -> None:
        self._supervisor = asyncio.ensure_future(self._supervise())

    async def _supervise(self) -> None:
        delay = 0.05
        idle_s = self._sub._client.settings.server_read_timeout_s
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


class SyncSubscription:
    """Signals for blocking code: `for signal in sub:` or `sub.get(timeout_s=1)`.

    The listening connections live on the sync client's background loop; this object
    hands their signals to the calling thread.
    """

    def __init__(
        self, client: SyncDflockClient, pattern: str, *, group: str | None, max_queue: int
    ) -> None:
        self.pattern = pattern
        self.group = group
        self._portal = client._keeper.portal()
        self._sub = AsyncSubscription(
            client._keeper.async_twin(), pattern, group=group, max_queue=max_queue
        )

    @property
    def dropped(self) -> int:
        return self._sub.dropped

    @property
    def reconnects(self) -> int:
        return self._sub.reconnects

    def start(self) -> Self:
        self._portal.call(self._sub.start())
        return self

    def get(self, timeout_s: float | None = None) -> Signal | None:
        signal: Signal | None = self._portal.call(self._sub.get(timeout_s))
        return signal

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Signal:
        try:
            signal: Signal = self._portal.call(self._sub.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None
        return signal

    def close(self) -> None:
        self._portal.call(self._sub.aclose())

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
