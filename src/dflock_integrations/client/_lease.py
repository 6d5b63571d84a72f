"""`AsyncLock` and `AsyncSemaphore`: one grant on one key, renewed while held.

A grant belongs to the connection that asked for it: when that connection closes
the server releases the grant. So a handle keeps its connection out of the pool
from acquire to release, renews over it (which also keeps the server's idle clock
from closing it), and returns it to the pool only after a clean release.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

import dflockd_client
from dflockd_client import _async as wire

from dflock_integrations.client._connection import Connection
from dflock_integrations.client._lease_state import (
    LeaseState,
    connection_survives,
    raise_failure,
    worth_retrying,
)
from dflock_integrations.client._pool import ServerPool
from dflock_integrations.client._timing import renew_interval, renew_read_timeout, wire_timeout
from dflock_integrations.errors import LockLostError

if TYPE_CHECKING:
    from dflock_integrations.client._async_client import AsyncDflockClient

log = logging.getLogger("dflock_integrations")

T = TypeVar("T")


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
            client.server_for(key),
            limit=limit,
            acquire_timeout_s=acquire_timeout_s,
            lease_ttl_s=lease_ttl_s,
        )
        self._client = client
        self._pool: ServerPool | None = None  # bound on first use, on the loop's thread
        self._conn: Connection | None = None
        # Renewal waits on a cheap timer and becomes a task only when it falls due.
        self._renew_timer: asyncio.TimerHandle | None = None
        self._renewing: asyncio.Task[None] | None = None

    @property
    def _connections(self) -> ServerPool:
        """The pool this handle's connections come from and go back to."""
        if self._pool is None:
            self._pool = self._client._pool_for(self.key)
        return self._pool

    async def acquire(self, timeout_s: float | None = None) -> bool:
        """Wait up to `timeout_s` (default: the handle's) in FIFO order; False on timeout."""
        self._check_idle()
        whole, cut = wire_timeout(self._timeout_for(timeout_s))

        async def ask(conn: Connection) -> tuple[str, int]:
            async with asyncio.timeout(cut):
                return await wire.acquire(
                    conn.wire,
                    self.key,
                    whole,
                    self.lease_ttl_s,
                    prefix=self._prefix,
                    limit=self.limit,
                )

        try:
            conn, (token, lease) = await self._exchange(ask)
        except TimeoutError:
            return False  # the server's `timeout`, or our own cut of a fractional wait
        self._granted(conn, token, lease)
        return True

    async def enqueue(self) -> bool:
        """Join the queue without waiting; True if granted at once. Then call `wait()`."""
        self._check_idle()

        async def ask(conn: Connection) -> tuple[str, str | None, int | None]:
            return await wire.enqueue(
                conn.wire, self.key, self.lease_ttl_s, prefix=self._prefix, limit=self.limit
            )

        conn, (status, token, lease) = await self._exchange(ask)
        if status == "acquired" and token is not None and lease is not None:
            self._granted(conn, token, lease)
            return True
        self._conn, self._queued = conn, True
        return False

    async def _exchange(self, ask: Callable[[Connection], Awaitable[T]]) -> tuple[Connection, T]:
        """Run one request on a pooled connection; retry once if a reused one was stale."""
        pool = self._connections
        for attempt in (1, 2):
            conn = await pool.checkout()
            try:
                answer = await ask(conn)
            except BaseException as exc:
                if connection_survives(exc):
                    conn.touch()
                    pool.checkin(conn)
                else:
                    pool.discard(conn)
                    if worth_retrying(exc, reused=conn.reused, attempt=attempt):
                        continue
                raise_failure(exc, name=self.name, server=pool.server)
            conn.touch()
            return conn, answer  # the caller now owns the connection
        raise AssertionError("unreachable")  # pragma: no cover

    async def wait(self, timeout_s: float | None = None) -> bool:
        """Second phase after `enqueue()`: wait for the grant; False on timeout."""
        if self.held:
            return True
        if not self._queued or self._conn is None:
            raise RuntimeError(f"wait() on {self.name!r} needs a prior enqueue()")
        conn, self._conn, self._queued = self._conn, None, False
        whole, cut = wire_timeout(self._timeout_for(timeout_s))
        pool = self._connections
        try:
            async with asyncio.timeout(cut):
                token, lease = await wire.wait(conn.wire, self.key, whole, prefix=self._prefix)
        except BaseException as exc:
            # After a two-phase timeout the connection may still be queued on the
            # key; closing it is the one way to be sure it is not granted later.
            pool.discard(conn)
            if isinstance(exc, TimeoutError):
                return False
            raise_failure(exc, name=self.name, server=pool.server)
        self._granted(conn, token, lease)
        return True

    def _granted(self, conn: Connection, token: str, lease: int) -> None:
        conn.touch()
        self._conn = conn
        self._record_grant(token, lease)
        self._schedule_renewal()

    # -- holding -----------------------------------------------------------------

    def _schedule_renewal(self) -> None:
        settings = self._client.settings
        interval = renew_interval(self.lease, settings.renew_ratio, settings.server_read_timeout_s)
        loop = asyncio.get_running_loop()
        self._renew_timer = loop.call_later(interval, self._renewal_due, interval)

    def _renewal_due(self, interval: float) -> None:
        self._renew_timer = None
        self._renewing = asyncio.ensure_future(self._renew_once(interval))

    async def _renew_once(self, interval: float) -> None:
        conn, token = self._conn, self.token
        try:
            if conn is None or token is None or self.lost:
                return
            self.lease = await wire.renew(
                conn.wire,
                self.key,
                token,
                self.lease_ttl_s,
                prefix=self._prefix,
                read_timeout=renew_read_timeout(self.lease, interval),
            )
            conn.touch()
        except Exception as exc:
            self._mark_lost(f"renewal failed: {exc or type(exc).__name__}")
            return
        finally:
            self._renewing = None
        if self._conn is conn and self.token == token:  # not released meanwhile
            self._schedule_renewal()

    def _mark_lost(self, reason: str) -> None:
        if not self._record_loss(reason):
            return
        if self._conn is not None:
            # Whatever the server still has for this connection must go too.
            self._connections.discard(self._conn)
            self._conn = None
        self._notify_lost()

    # -- releasing ---------------------------------------------------------------

    async def release(self) -> None:
        """Give the grant back. Raises LockLostError if it had already been lost."""
        if self._renew_timer is not None:
            self._renew_timer.cancel()
            self._renew_timer = None
        conn, token, queued = self._conn, self.token, self._queued
        self._conn, self._queued = None, False
        pool = self._connections
        try:
            if self._renewing is not None and conn is not None:
                try:
                    # Let a renewal in flight finish: cutting it would close the connection.
                    await asyncio.shield(self._renewing)
                except asyncio.CancelledError:
                    pool.discard(conn)  # closing releases the grant on the server
                    raise
            if queued and conn is not None:
                pool.discard(conn)  # closing the connection withdraws the waiter
                return
            if self.lost:
                raise self._lost_error()
            if conn is None or token is None:
                return
            try:
                await wire.release(conn.wire, self.key, token, prefix=self._prefix)
            except dflockd_client.DflockdError:
                pool.discard(conn)
                raise self._expired_error(conn.server) from None
            except BaseException as exc:
                # Closing the connection releases the grant on the server as well.
                pool.discard(conn)
                if not isinstance(exc, Exception):
                    raise
                log.warning(
                    "dflock release of %r failed (%s); connection closed instead", self.name, exc
                )
                return
            conn.touch()
            pool.checkin(conn)
        finally:
            self._clear()

    # -- context manager ---------------------------------------------------------

    async def __aenter__(self) -> Self:
        if not await self.acquire():
            raise self.timeout_error(self.acquire_timeout_s)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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
