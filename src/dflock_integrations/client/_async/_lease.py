"""Lock and semaphore handles: one grant on one key, renewed while held.

A grant belongs to the connection that asked for it: when that connection closes
the server releases the grant. So a handle keeps its connection from acquire to
release, and the client's keeper renews over it and watches it. `release()` returns
once the release is written: the server answers a connection's requests in order,
so whatever this client sends next on that connection comes after it; a release the
server refuses (the lease had ended) is logged and reported to `on_lost`.
`release(wait=True)` waits for the answer instead.

`_async/_lease.py` is the source; `_sync/_lease.py`, for blocking code, is generated
from it by `scripts/generate_sync.py`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from typing_extensions import Self

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._async._connection import AsyncConnection
from dflock_integrations.client._async._pool import AsyncPool
from dflock_integrations.client._failures import no_answer
from dflock_integrations.client._state import LeaseState
from dflock_integrations.client._timing import ANSWER_GRACE_S, Deadline, wire_timeout
from dflock_integrations.errors import DflockError, LockLostError, ServerError, refusal

if TYPE_CHECKING:
    from dflock_integrations.client._async._client import AsyncDflockClient


class AsyncLease(LeaseState):
    """Shared behaviour of locks (limit None) and semaphore slots (limit >= 1)."""

    def __init__(
        self,
        client: AsyncDflockClient,
        name: str,
        key: str,
        *,
        limit: int | None,
        acquire_timeout_s: float,
        lease_ttl_s: int,
    ) -> None:
        super().__init__(
            name,
            key,
            str(client._router.home(key)),
            limit=limit,
            acquire_timeout_s=acquire_timeout_s,
            lease_ttl_s=lease_ttl_s,
        )
        self._client = client
        self._metrics = client._metrics
        self._conn: AsyncConnection | None = None
        self._pool: AsyncPool | None = None

    async def acquire(self, timeout_s: float | None = None) -> bool:
        """Wait up to `timeout_s` (default: the handle's) in FIFO order; False on timeout.

        Returns or raises within `timeout_s` + 0.75 s, whatever the server does: one
        that does not answer in that time is ServerUnavailable.
        """
        self._check_idle()
        timeout = self._timeout_for(timeout_s)
        whole, cut = wire_timeout(timeout)
        deadline = Deadline(timeout + ANSWER_GRACE_S)
        request = protocol.acquire(self.key, whole, self.lease_ttl_s, self.limit)
        sent_at = time.monotonic()
        try:
            conn, pool, answer = await self._client._router.exchange(
                self.key,
                request,
                protocol.GRANT,
                deadline,
                answer_within=whole + ANSWER_GRACE_S if cut is None else cut,
                grants=True,
            )
        except TimeoutError:
            if cut is not None:
                self._report_wait(sent_at, "timeout")
                return False  # our own cut of a wait the protocol cannot express
            self._report_wait(sent_at, "error")
            self._metrics.server_error(self.server, "no_answer")
            raise no_answer(self.server, timeout + ANSWER_GRACE_S) from None
        except DflockError:
            self._report_wait(sent_at, "error")
            raise
        if isinstance(answer, protocol.Granted):
            self._granted(conn, pool, answer, sent_at)
            self._report_wait(sent_at, "granted")
            return True
        pool.checkin(conn)
        if isinstance(answer, protocol.TimedOut):
            self._report_wait(sent_at, "timeout")
            return False
        self._report_wait(sent_at, "error")
        raise self._refused(answer, conn.server)

    async def enqueue(self) -> bool:
        """Join the queue without waiting; True if granted at once. Then call `wait()`."""
        self._check_idle()
        patience = self._client.settings.connect_timeout_s
        request = protocol.enqueue(self.key, self.lease_ttl_s, self.limit)
        sent_at = time.monotonic()
        try:
            conn, pool, answer = await self._client._router.exchange(
                self.key,
                request,
                protocol.ENQUEUE,
                Deadline(patience),
                answer_within=patience,
                grants=True,
            )
        except TimeoutError:
            raise no_answer(self.server, patience) from None
        if isinstance(answer, protocol.Granted):
            self._granted(conn, pool, answer, sent_at)
            self._report_wait(sent_at, "granted")
            return True
        if isinstance(answer, protocol.Queued):
            self._conn, self._pool, self._queued = conn, pool, True
            self.server = conn.server
            return False
        pool.checkin(conn)
        raise self._refused(answer, conn.server)

    async def wait(self, timeout_s: float | None = None) -> bool:
        """Second phase after `enqueue()`: wait for the grant; False on timeout."""
        if self.held:
            return True
        conn, pool = self._conn, self._pool
        if not self._queued or conn is None or pool is None:
            raise RuntimeError(f"wait() on {self.name!r} needs a prior enqueue()")
        self._conn, self._pool, self._queued = None, None, False
        timeout = self._timeout_for(timeout_s)
        whole, cut = wire_timeout(timeout)
        request = protocol.wait(self.key, whole, self.limit)
        sent_at = time.monotonic()
        try:
            answer = await conn.exchange(
                request, protocol.GRANT, whole + ANSWER_GRACE_S if cut is None else cut
            )
        except TimeoutError:
            pool.discard(conn)  # closing withdraws the waiter
            if cut is not None:
                return False
            raise no_answer(self.server, timeout + ANSWER_GRACE_S) from None
        except BaseException:
            pool.discard(conn)
            raise
        if isinstance(answer, protocol.Granted):
            self._granted(conn, pool, answer, sent_at)
            self._report_wait(sent_at, "granted")
            return True
        pool.checkin(conn)  # a wait that timed out leaves the queue on the server too
        if isinstance(answer, protocol.TimedOut):
            self._report_wait(sent_at, "timeout")
            return False
        raise self._refused(answer, conn.server)

    def _granted(
        self, conn: AsyncConnection, pool: AsyncPool, answer: protocol.Granted, sent_at: float
    ) -> None:
        self.server = conn.server
        try:
            fence = self._client._fencing.fence(
                self.server, self.key, answer.token, exclusive=self.limit is None
            )
        except BaseException:
            # The grant is not wanted: give it back, then close (which would give it back
            # too, but a server notices a close later than a release it reads in order).
            conn.send(protocol.release(self.key, answer.token, self.limit), protocol.DONE, _ignore)
            pool.discard(conn)
            raise
        self._record_grant(answer.token, answer.lease_s, fence, sent_at)
        self._conn, self._pool = conn, pool
        self._client._keeper.hold(self, conn, pool)

    def _refused(self, answer: protocol.Answer, server: str) -> DflockError:
        if isinstance(answer, protocol.Refused):
            if answer.status == "error_lease_expired":
                return LockLostError(
                    f"the grant of {self.name!r} at enqueue ran out before wait()", key=self.name
                )
            return refusal(answer.status, key=self.name, server=server)
        return ServerError(f"dflockd at {server} answered {answer!r} for key {self.name!r}")

    async def release(self, *, wait: bool = False) -> None:
        """Give the grant back. Raises LockLostError if it had already been lost.

        Returns once the release is sent; `wait=True` returns once the server agreed.
        """
        conn, pool, queued = self._conn, self._pool, self._queued
        self._conn = self._pool = None
        try:
            if conn is None or pool is None:
                if self.lost:
                    raise self._lost_error()
                return
            if queued:
                pool.discard(conn)  # closing the connection withdraws the waiter
                return
            self._check_before_release(pool, conn)
            await self._client._keeper.release(self, conn, pool, wait=wait)
        finally:
            self._clear()

    async def __aenter__(self) -> Self:
        if not await self.acquire():
            raise self.timeout_error(self.acquire_timeout_s)
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            await self.release()
        except LockLostError as lost:
            if exc is not None:
                raise lost from exc
            raise


class AsyncLock(AsyncLease):
    """An exclusive lock on one key."""

    kind = "lock"


class AsyncSemaphore(AsyncLease):
    """One of `limit` slots on one key."""

    kind = "semaphore"


def _ignore(outcome: object) -> None:
    """The answer to a release nobody waits for."""
