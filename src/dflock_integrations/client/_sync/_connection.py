"""`SyncConnection`: one connection to one server for blocking code, in two modes.

Blocking mode: the calling thread writes a request and reads until its answer, so a
lock cycle costs no thread hop. Reactor mode: while a lease is held, the sync
client's background loop watches the socket (`attach`), so a server that goes away
is noticed at once and renewals run beside every other server's; `detach` hands
the socket back to blocking mode. One `Dispatcher` matches answers in both modes,
and a connection is only ever in one of them at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
import time
from collections.abc import Callable

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._dispatch import Dispatcher, Outcome, Receiver
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
SyncOpener = Callable[[ServerAddress, Deadline], "SyncConnection"]
_READ_SIZE = 65_536
# A connection used this recently is handed out again without a look at its socket.
FRESH_S = 0.1


class SyncConnection:
    def __init__(self, server: str, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.closed = False
        self.reused = False  # handed out by a pool before
        self.pooled = True  # counted by its pool until discarded
        self.last_used = time.monotonic()
        self.on_close: OnClose | None = None  # the lease that depends on it, while attached
        self._dispatcher = Dispatcher()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def awaiting(self) -> int:
        return self._dispatcher.awaiting

    # -- either mode --------------------------------------------------------------------------

    def send(self, data: bytes, kind: str, receiver: Receiver) -> None:
        """Write a request; `receiver` gets its answer when someone reads it."""
        if self.closed:
            raise connection_lost(self.server)
        self._dispatcher.expect(kind, receiver)
        try:
            if self._loop is None:
                self.sock.sendall(data)
            elif self.sock.send(data) != len(data):
                # A tiny request that does not fit: the server stopped reading long ago.
                raise BlockingIOError("the server is not reading")
        except (OSError, ValueError) as exc:
            self._fail(exc)
            raise connection_lost(self.server, exc) from None

    def send_many(self, requests: list[bytes], kind: str, receiver: Receiver) -> None:
        """Write requests in one go; `receiver` gets each one's answer, in order."""
        for _ in requests[:-1]:
            self._dispatcher.expect(kind, receiver)
        self.send(b"".join(requests), kind, receiver)

    def close(self) -> None:
        """Close from our side; whoever depends on the connection already knows why."""
        self._fail(None, ours=True)

    def _fail(self, exc: BaseException | None, *, ours: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._loop = None
        with contextlib.suppress(OSError):
            self.sock.close()
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

    # -- blocking mode (the calling thread) --------------------------------------------------

    def usable(self) -> bool:
        """Still open, judged without blocking before it is handed out again.

        Nobody reads an idle connection, so whatever arrived meanwhile is read now: the
        answers of requests nobody waited for (a release), or the server's parting
        `error` and close after its idle limit, which fail the connection.
        """
        if self.closed:
            return False
        if time.monotonic() - self.last_used < FRESH_S:
            return True  # used a moment ago: no server closes a connection that soon
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            self._fail(None)
            return False
        if readable or (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            self.sock.setblocking(False)
            try:
                self._readable()
            finally:
                if not self.closed:
                    self.sock.setblocking(True)
        return not self.closed

    def exchange(self, data: bytes, kind: str, timeout_s: float) -> protocol.Answer:
        """One request and its answer; TimeoutError (and the connection closed) if late."""
        box: list[Outcome] = []
        self.send(data, kind, box.append)
        self._read_until(box, 1, time.monotonic() + timeout_s)
        return _unbox(box[0])

    def exchange_many(
        self, requests: list[bytes], kind: str, timeout_s: float
    ) -> list[protocol.Answer]:
        """Requests pipelined (in batches a server accepts behind a blocked request);
        their answers in order. TimeoutError (and the connection closed) if late."""
        deadline = time.monotonic() + timeout_s
        box: list[Outcome] = []
        for batch in protocol.batches(requests):
            for _ in batch:
                self._dispatcher.expect(kind, box.append)
            try:
                self.sock.sendall(b"".join(batch))
            except OSError as exc:
                self._fail(exc)
                raise connection_lost(self.server, exc) from None
            self._read_until(box, len(box) + len(batch), deadline)
        return [_unbox(outcome) for outcome in box]

    def _read_until(self, box: list[Outcome], count: int, deadline: float) -> None:
        try:
            while len(box) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self.sock.settimeout(remaining)
                data = self.sock.recv(_READ_SIZE)
                if not data:
                    self._fail(None)
                    break
                self._dispatcher.feed(data)
        except TimeoutError:
            self.close()  # the answer may still come: nobody would read it
            raise
        except DflockError as exc:
            self._fail(exc)
        except OSError as exc:
            self._fail(exc)
        except BaseException:
            self.close()  # interrupted (Ctrl-C): the request's outcome is unknown
            raise
        self.last_used = time.monotonic()

    # -- reactor mode (the sync client's loop thread) -----------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Let `loop` read this connection (called on that loop's thread)."""
        if self.closed:
            return
        self.sock.setblocking(False)
        self._loop = loop
        loop.add_reader(self.sock.fileno(), self._readable)
        self._readable()  # what arrived before we watched (a close, most likely)

    def detach(self) -> None:
        """Back to blocking mode (on the loop's thread), with no answer outstanding."""
        if self._loop is not None and not self.closed:
            self._loop.remove_reader(self.sock.fileno())
            self._loop = None
            self.sock.setblocking(True)

    def _readable(self) -> None:
        try:
            while not self.closed:
                data = self.sock.recv(_READ_SIZE)
                if not data:
                    self._fail(None)
                    return
                self.last_used = time.monotonic()
                self._dispatcher.feed(data)
                if not isinstance(self.sock, ssl.SSLSocket) or not self.sock.pending():
                    return
        except (BlockingIOError, ssl.SSLWantReadError):
            return
        except DflockError as exc:
            self._fail(exc)
        except OSError as exc:
            self._fail(exc)


def _unbox(outcome: Outcome) -> protocol.Answer:
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def open_connection(
    server: ServerAddress,
    *,
    tls: ssl.SSLContext | None,
    token: str | None,
    connect_timeout_s: float,
    deadline: Deadline,
) -> SyncConnection:
    """Connect (TLS if configured) and authenticate; errors name the server."""
    name = str(server)
    timeout = min(connect_timeout_s, deadline.remaining())
    try:
        sock = socket.create_connection((server.host, server.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=server.host)
    except OSError as exc:
        raise connect_failed(name, timeout, exc) from None
    conn = SyncConnection(name, sock)
    if token is not None:
        waited = min(connect_timeout_s, deadline.remaining())
        try:
            check_auth(name, conn.exchange(protocol.auth(token), protocol.DONE, waited))
        except TimeoutError:
            raise no_answer(name, waited) from None
        except BaseException:
            conn.close()
            raise
    return conn
