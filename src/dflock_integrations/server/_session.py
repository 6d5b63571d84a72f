"""One client connection: framing, the idle timeout, and requests in arrival order.

A protocol object rather than streams, so a closed connection is noticed at once
(`connection_lost`). From v1.15 dflockd notices too while a request blocks waiting
for a grant, withdrawing the waiter; before, the waiter stays queued until it is
granted or times out, and only then is the connection's state released. The
session does whichever its profile says.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from dflock_integrations.server._commands import Bad, execute
from dflock_integrations.server._keyspace import Owner
from dflock_integrations.server._options import MAX_BIG_LINE_BYTES, MAX_LINE_BYTES

if TYPE_CHECKING:
    from dflock_integrations.server._listener import DflockServer

log = logging.getLogger("dflock_integrations.server")

_ids = itertools.count(1)
# From v1.15 a client that piles this much behind a blocked request is cut off.
MAX_BACKLOG_BYTES = 4096
# dflockd pauses before closing a connection that failed to authenticate.
AUTH_FAILURE_DELAY_S = 0.1


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
        self._backlog = 0  # bytes received while a request blocks
        self._forgotten = False

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
        if self._busy is not None and self.server.profile.notices_close_while_blocked:
            self._backlog += len(data)
            if self._backlog > MAX_BACKLOG_BYTES:
                log.info("closing connection %d: too much sent behind a blocked request", self.id)
                self.abort()
                return
        while not self.closed:
            end = self._buffer.find(b"\n")
            limit = self._line_limit()
            if end < 0:
                if len(self._buffer) > limit:
                    self._fail()  # an over-long line: answer `error` and close
                return
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if len(raw) > limit:  # a `\r` before the `\n` counts, as in dflockd
                self._fail()
                return
            self._lines.append(raw.decode("utf-8", "replace").rstrip("\r"))
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
            if not self.server.profile.notices_close_while_blocked:
                return  # the blocked request runs its course; _finish forgets the session
            self._busy.cancel()
        self._forget()

    def _forget(self) -> None:
        if not self._forgotten:
            self._forgotten = True
            self.server.forget(self)

    def pause_writing(self) -> None:
        # The peer is not reading its answers: stop reading its requests, and give up
        # on it after the write timeout.
        if self._transport is not None:
            self._transport.pause_reading()
        self._write_timer = _later(self.server.config.write_timeout_s, self.abort)

    def resume_writing(self) -> None:
        _cancel(self._write_timer)
        self._write_timer = None
        if self._transport is not None and not self.closed:
            self._transport.resume_reading()

    # -- requests --------------------------------------------------------------------

    def _line_limit(self) -> int:
        profile = self.server.profile
        if profile.big_lines and len(self._lines) == 2:
            cmd = self._lines[0]
            if cmd == "auth" or (cmd == "signal" and profile.signals):
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
            if self.server.draining and self.server.profile.drains:
                self.send("error_draining")
                self.close()
                return
            try:
                answer = execute(self, cmd, key, arg)
            except Bad:
                answer = "error"
            if isinstance(answer, str):
                self.send(answer)
            else:
                self._cancel_idle_timer()  # not reading while blocked, as dflockd
                self._backlog = 0
                self._busy = asyncio.ensure_future(self._finish(answer))

    async def _finish(self, pending: Awaitable[str]) -> None:
        try:
            answer = await pending
        except asyncio.CancelledError:
            self._busy = None
            if self.closed:
                self._forget()
            elif self.server.draining:
                # Shutting down cancels a blocked request; dflockd answers it `error`.
                self.send("error")
                self._run_requests()
            return
        self._busy = None
        if self.closed:
            self._forget()  # the client left while it waited: give back what it got
            return
        self.send(answer)
        self._arm_idle_timer()
        self._run_requests()

    def stop_waiting(self) -> None:
        """Shutdown began: a blocked request ends (answered `error` by `_finish`)."""
        if self._busy is not None:
            self._busy.cancel()

    def _authenticate(self, cmd: str, arg: str) -> None:
        token = self.server.token or ""
        if cmd == "auth" and hmac.compare_digest(arg.strip().encode(), token.encode()):
            self._authed = True
            self.send("ok")
        else:
            self._refuse_auth()

    def _refuse_auth(self) -> None:
        # Everything before a good `auth` (another command, a parse error, a timeout)
        # gets `error_auth`, then the connection closes after a pause, as in dflockd.
        self.send("error_auth")
        self.closed = True
        if self._transport is not None:
            self._transport.pause_reading()
            asyncio.get_running_loop().call_later(AUTH_FAILURE_DELAY_S, self._transport.close)

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
        if not self._authed:
            self._refuse_auth()
            return
        self.send("error")
        self.close()
        self.closed = True

    def _arm_idle_timer(self) -> None:
        _cancel(self._idle_timer)
        self._idle_timer = _later(self.server.config.read_timeout_s, self._idle)

    def _cancel_idle_timer(self) -> None:
        _cancel(self._idle_timer)
        self._idle_timer = None

    def _idle(self) -> None:
        if self._busy is None and not self.closed:
            self._fail()


def _later(delay_s: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
    return asyncio.get_running_loop().call_later(delay_s, callback)


def _cancel(timer: asyncio.TimerHandle | None) -> None:
    """Cancel `timer`, if there is one."""
    if timer is not None:
        timer.cancel()
