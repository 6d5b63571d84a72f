"""`AsyncConnection`: one connection to one server, as an asyncio Protocol.

A Protocol is told the moment the kernel sees the server close (`connection_lost`),
so a lease on this connection is known lost at once, not at its next renewal; and
requests are futures queued in order, so they pipeline for free. An answer that does
not come in time closes the connection: its state is unknown (a late grant would
otherwise be held by nobody), and closing it makes the server give everything back.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._dispatch import Dispatcher, Outcome, Receiver, deliver
from dflock_integrations.client._failures import (
    check_auth,
    connect_failed,
    connection_lost,
    no_answer,
)
from dflock_integrations.client._timing import Deadline
from dflock_integrations.errors import DflockError, ServerUnavailable
from dflock_integrations.settings import ServerAddress

OnClose = Callable[[DflockError], None]
AsyncOpener = Callable[[ServerAddress, Deadline], Awaitable["AsyncConnection"]]


class AsyncConnection(asyncio.Protocol):
    def __init__(self, server: str, on_push: Callable[[protocol.Push], None] | None = None) -> None:
        self.server = server
        self.closed = False
        self.reused = False  # handed out by a pool before
        self.pooled = True  # counted by its pool until discarded
        self.last_used = time.monotonic()
        self.on_close: OnClose | None = None  # the lease or listener that depends on it
        self._dispatcher = Dispatcher(on_push)
        self._transport: asyncio.Transport | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self.last_used = time.monotonic()
        try:
            self._dispatcher.feed(data)
        except DflockError as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc)

    # -- requests ---------------------------------------------------------------------------

    def usable(self) -> bool:
        """Still open. (Bytes nobody asked for, such as the server's parting `error` before
        an idle close, have already failed it: the protocol reads as they arrive.)"""
        return not self.closed

    @property
    def awaiting(self) -> int:
        return self._dispatcher.awaiting

    def send(self, data: bytes, kind: str, receiver: Receiver) -> None:
        """Write a request; `receiver` (a future or a callback) gets its answer or error."""
        if self.closed or self._transport is None:
            raise connection_lost(self.server)
        self._dispatcher.expect(kind, receiver)
        self._transport.write(data)

    def send_many(self, requests: list[bytes], kind: str, receiver: Receiver) -> None:
        """Write requests in one go; `receiver` gets each one's answer, in order."""
        if self.closed or self._transport is None:
            raise connection_lost(self.server)
        for _ in requests:
            self._dispatcher.expect(kind, receiver)
        self._transport.write(b"".join(requests))

    async def exchange(self, data: bytes, kind: str, timeout_s: float) -> protocol.Answer:
        """One request and its answer; TimeoutError (and the connection closed) if late."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[protocol.Answer] = loop.create_future()
        self.send(data, kind, answer)
        deadlines = _deadlines(loop)
        deadlines.watch(answer, loop.time() + timeout_s, self)
        try:
            return await answer
        except asyncio.CancelledError:
            self.close()  # a grant racing the cancellation must not stay held
            raise
        finally:
            deadlines.forget(answer)

    async def exchange_many(
        self, requests: list[bytes], kind: str, timeout_s: float
    ) -> list[protocol.Answer]:
        """Requests pipelined (in batches a server accepts behind a blocked request);
        their answers in order. TimeoutError (and the connection closed) if late."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        deadlines = _deadlines(loop)
        outcomes: list[Outcome] = []
        for batch in protocol.batches(requests):
            wanted = len(outcomes) + len(batch)
            done: asyncio.Future[protocol.Answer] = loop.create_future()

            def collect(
                outcome: Outcome,
                done: asyncio.Future[protocol.Answer] = done,
                wanted: int = wanted,
            ) -> None:
                outcomes.append(outcome)
                if isinstance(outcome, BaseException) or len(outcomes) == wanted:
                    deliver(done, outcome)

            self.send_many(batch, kind, collect)
            deadlines.watch(done, deadline, self)
            try:
                await done
            except BaseException:
                self.close()
                raise
            finally:
                deadlines.forget(done)
        return [o for o in outcomes if not isinstance(o, BaseException)]

    def _expire(self, answer: asyncio.Future[protocol.Answer]) -> None:
        if not answer.done():
            answer.set_exception(TimeoutError())
            self.close()

    def close(self) -> None:
        """Close from our side; whoever depends on the connection already knows why."""
        self._fail(None, ours=True)

    def _fail(self, exc: BaseException | None, *, ours: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        if self._transport is not None:
            self._transport.abort()
        if isinstance(exc, DflockError):
            error = exc
        elif ours:
            error = ServerUnavailable(
                f"the connection to dflockd at {self.server} was closed by this client",
                server=self.server,
            )
        else:
            error = connection_lost(self.server, exc)
        self._dispatcher.fail_all(error)
        on_close, self.on_close = self.on_close, None
        if on_close is not None and not ours:
            on_close(error)


class _Deadlines:
    """Every outstanding answer's deadline on one loop, checked by one timer.

    A timer per request would cost a heap entry and a cancel on every lock cycle;
    this one ticks only while answers are outstanding, so a deadline is kept to
    within `TICK_S`, which every timeout here allows for.
    """

    TICK_S = 0.05

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: dict[asyncio.Future[protocol.Answer], tuple[float, AsyncConnection]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def watch(
        self, answer: asyncio.Future[protocol.Answer], at: float, conn: AsyncConnection
    ) -> None:
        self._due[answer] = (at, conn)
        if self._timer is None:
            self._timer = self._loop.call_later(self.TICK_S, self._check)

    def forget(self, answer: asyncio.Future[protocol.Answer]) -> None:
        self._due.pop(answer, None)

    def _check(self) -> None:
        now = self._loop.time()
        for answer, (at, conn) in list(self._due.items()):
            if at <= now:
                del self._due[answer]
                conn._expire(answer)
        self._timer = self._loop.call_later(self.TICK_S, self._check) if self._due else None


_deadlines_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines] = (
    weakref.WeakKeyDictionary()
)


def _deadlines(loop: asyncio.AbstractEventLoop) -> _Deadlines:
    found = _deadlines_by_loop.get(loop)
    if found is None:
        found = _deadlines_by_loop[loop] = _Deadlines(loop)
    return found


async def open_connection(
    server: ServerAddress,
    *,
    tls: ssl.SSLContext | None,
    token: str | None,
    connect_timeout_s: float,
    deadline: Deadline,
    on_push: Callable[[protocol.Push], None] | None = None,
) -> AsyncConnection:
    """Connect (TLS if configured) and authenticate; errors name the server."""
    name = str(server)
    loop = asyncio.get_running_loop()
    timeout = min(connect_timeout_s, deadline.remaining())
    try:
        _, conn = await asyncio.wait_for(
            loop.create_connection(
                lambda: AsyncConnection(name, on_push),
                server.host,
                server.port,
                ssl=tls,
                server_hostname=server.host if tls is not None else None,
            ),
            timeout,
        )
    except (OSError, asyncio.TimeoutError) as exc:
        if isinstance(exc, asyncio.TimeoutError):
            exc = TimeoutError()
        raise connect_failed(name, timeout, exc) from None
    if token is not None:
        waited = min(connect_timeout_s, deadline.remaining())
        try:
            answer = await conn.exchange(protocol.auth(token), protocol.DONE, waited)
            check_auth(name, answer)
        except TimeoutError:
            raise no_answer(name, waited) from None
        except BaseException:
            conn.close()
            raise
    return conn
