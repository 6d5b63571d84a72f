"""Signal payloads and `AsyncSubscription`, a listener on every server.

A listening connection carries two kinds of lines: answers to our own requests and
`sig` lines the server pushes at any time. One reader task per connection routes
them: pushes into the subscription's queue, answers to the request that waits for
it. The same connection is pinged before the server's idle limit, and re-opened and
re-subscribed when it fails; signals sent while it was down are not delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from dflockd_client import _protocol as proto

from dflock_integrations.client._connection import Connection, connect
from dflock_integrations.errors import SignalsUnsupported
from dflock_integrations.settings import ServerAddress

if TYPE_CHECKING:
    from dflock_integrations.client._async_client import AsyncDflockClient

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
            async with asyncio.timeout(timeout_s):
                return await self._queue.get()
        except TimeoutError:
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

    def _deliver(self, channel: str, payload: str, server: ServerAddress) -> None:
        prefix = self._client.settings.key_prefix
        signal = Signal(channel.removeprefix(prefix), payload, str(server))
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
        self._conn: Connection | None = None
        self._pending: deque[asyncio.Future[str]] = deque()
        self._supervisor: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect and subscribe; answers and early pushes are routed from the start."""
        client = self._sub._client
        self._conn = await connect(self._server, client.settings, token=client._token)
        self._reader = asyncio.create_task(self._read_loop(self._conn))
        arg = self._sub.group or ""
        answer = await self._request("listen", self._sub.pattern, arg)
        if answer != "ok":
            raise SignalsUnsupported(
                f"dflockd at {self._server} answered {answer!r} to listen "
                f"{self._sub.pattern!r}: servers before v1.11 and dflockd 2.x have no "
                "signals, and a server may cap subscriptions per connection"
            )

    def supervise(self) -> None:
        self._supervisor = asyncio.create_task(
            self._supervise(), name=f"dflock-listen[{self._server}]"
        )

    async def _supervise(self) -> None:
        delay = 0.05
        settings = self._sub._client.settings
        while True:
            keepalive = asyncio.create_task(self._keepalive(settings.server_read_timeout_s))
            try:
                if self._reader is not None:
                    await self._reader
            finally:
                keepalive.cancel()
                self._drop_connection()
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_DELAY_S)
                try:
                    await self.open()
                except Exception as exc:
                    self._drop_connection()
                    log.debug("dflock listener reconnect to %s failed: %s", self._server, exc)
                    continue
                self._sub.reconnects += 1
                delay = 0.05
                break

    async def _keepalive(self, server_read_timeout_s: float) -> None:
        while True:
            await asyncio.sleep(server_read_timeout_s * 0.3)
            try:
                await self._request("ping", "_", "")
            except Exception:
                # The reader notices the closed connection and the supervisor reconnects.
                self._drop_connection()
                return

    async def _request(self, cmd: str, key: str, arg: str) -> str:
        conn = self._conn
        if conn is None or conn.closed:
            raise ConnectionError(f"listener connection to {self._server} is closed")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        conn.writer.write(proto.encode_lines(cmd, key, arg))
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            await conn.writer.drain()
            return await future

    async def _read_loop(self, conn: Connection) -> None:
        """Route lines until the connection ends; the supervisor then reconnects."""
        try:
            while True:
                raw = await conn.reader.readline()
                if not raw:
                    log.warning("dflock listener: %s closed the connection", self._server)
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith("sig "):
                    _, channel, payload = [*line.split(" ", 2), "", ""][:3]
                    self._sub._deliver(channel, payload, self._server)
                elif self._pending:
                    future = self._pending.popleft()
                    if not future.done():
                        future.set_result(line)
                else:
                    log.warning("dflock listener got an unexpected line from %s", self._server)
        except (OSError, ValueError) as exc:
            log.warning("dflock listener connection to %s failed: %s", self._server, exc)
        finally:
            conn.close()
            while self._pending:
                future = self._pending.popleft()
                if not future.done():
                    future.set_exception(ConnectionError(f"connection to {self._server} closed"))

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()

    async def close(self) -> None:
        for task in (self._supervisor, self._reader):
            if task is not None:
                task.cancel()
        for task in (self._supervisor, self._reader):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._drop_connection()
        self._conn = None
