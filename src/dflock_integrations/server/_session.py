"""One client connection: framing, the idle timeout, and requests in arrival order.

A protocol object rather than streams, so a closed connection is noticed at once
(`connection_lost`) even while one of its requests blocks waiting for a grant:
its waiters are withdrawn and its grants released without waiting for a read.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from dflock_integrations.server._commands import Bad, execute
from dflock_integrations.server._keyspace import Owner
from dflock_integrations.server._options import MAX_BIG_LINE_BYTES, MAX_LINE_BYTES

if TYPE_CHECKING:
    from dflock_integrations.server._listener import DflockServer

log = logging.getLogger("dflock_integrations.server")

_ids = itertools.count(1)
_BIG_LINE_COMMANDS = frozenset({"auth", "signal"})


class Session(asyncio.Protocol):
    def __init__(self, server: DflockServer) -> None:
        self.server = server
        self.owner = Owner(next(_ids))
        self.id = self.owner.id
        self.subscriptions: list[tuple[str, str]] = []
        self.closed = False
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._lines: list[str] = []
        self._requests: deque[tuple[str, str, str]] = deque()
        self._busy: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._authed = server.token is None

    # -- transport events ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self.server.admit(self):
            transport.abort()
            self.closed = True
            return
        self._arm_idle_timer()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._buffer += data
        while not self.closed:
            end = self._buffer.find(b"\n")
            limit = self._line_limit()
            if end < 0:
                if len(self._buffer) > limit + 1:
                    self._fail()  # an over-long line: answer `error` and close
                return
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if len(raw) > limit:
                self._fail()
                return
            self._lines.append(raw.decode("utf-8", "replace"))
            if len(self._lines) == 3:
                cmd, key, arg = self._lines
                self._lines = []
                self._requests.append((cmd, key, arg))
                self._run_requests()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost does the cleanup

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for timer in (self._idle_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        if self._busy is not None:
            self._busy.cancel()
        self.server.forget(self)

    def pause_writing(self) -> None:
        # The peer is not reading its answers: stop reading its requests, and give up
        # on it after the write timeout.
        if self._transport is not None:
            self._transport.pause_reading()
        loop = asyncio.get_running_loop()
        self._write_timer = loop.call_later(self.server.config.write_timeout_s, self.abort)

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self._transport is not None and not self.closed:
            self._transport.resume_reading()

    # -- requests --------------------------------------------------------------------

    def _line_limit(self) -> int:
        if len(self._lines) == 2 and self._lines[0] in _BIG_LINE_COMMANDS:
            return MAX_BIG_LINE_BYTES
        return MAX_LINE_BYTES

    def _run_requests(self) -> None:
        """Answer queued requests in order; a blocking one continues in a task."""
        while self._requests and self._busy is None and not self.closed:
            cmd, key, arg = self._requests.popleft()
            self._arm_idle_timer()
            if not self._authed:
                self._authenticate(cmd, arg)
                continue
            try:
                answer = execute(self, cmd, key, arg)
            except Bad:
                answer = "error"
            if isinstance(answer, str):
                self.send(answer)
            else:
                self._cancel_idle_timer()  # not reading while blocked, as dflockd
                self._busy = asyncio.ensure_future(self._finish(answer))

    async def _finish(self, pending: Awaitable[str]) -> None:
        try:
            self.send(await pending)
        except asyncio.CancelledError:
            return
        self._busy = None
        self._arm_idle_timer()
        self._run_requests()

    def _authenticate(self, cmd: str, arg: str) -> None:
        token = self.server.token or ""
        if cmd == "auth" and hmac.compare_digest(arg.encode(), token.encode()):
            self._authed = True
            self.send("ok")
        else:
            self.send("error_auth")
            self.close()

    # -- output ----------------------------------------------------------------------

    def send(self, line: str) -> None:
        if not self.closed and self._transport is not None:
            self._transport.write(line.encode() + b"\n")

    def push(self, line: bytes) -> bool:
        """A signal for this listener; one that lets its buffer fill up is dropped."""
        transport = self._transport
        if self.closed or transport is None:
            return False
        if transport.get_write_buffer_size() > self.server.config.push_buffer_bytes:
            log.info("dropping listener connection %d: it stopped reading", self.id)
            self.abort()
            return False
        transport.write(line)
        return True

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.close()  # flushes what is written, then connection_lost

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _fail(self) -> None:
        self.send("error")
        self.close()
        self.closed = True

    def _arm_idle_timer(self) -> None:
        self._cancel_idle_timer()
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(self.server.config.read_timeout_s, self._idle)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle(self) -> None:
        if self._busy is None and not self.closed:
            self._fail()
