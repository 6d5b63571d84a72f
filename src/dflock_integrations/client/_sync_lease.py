"""`SyncLease`: the blocking twin of `AsyncLease`, doing its I/O in the calling thread.

Acquire and release run on the caller's thread over a pooled blocking connection;
the client's renewal thread renews held leases. A per-handle lock keeps a renewal
and a release from using the connection at the same time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

import dflockd_client
from dflockd_client import _protocol as proto

from dflock_integrations.client._lease_state import (
    LeaseState,
    connection_survives,
    raise_failure,
    worth_retrying,
)
from dflock_integrations.client._sync_connection import SyncConnection
from dflock_integrations.client._sync_pool import SyncServerPool
from dflock_integrations.client._timing import renew_interval, renew_read_timeout, wire_timeout
from dflock_integrations.errors import LockLostError

if TYPE_CHECKING:
    from dflock_integrations.client._sync_client import SyncDflockClient

log = logging.getLogger("dflock_integrations")
T = TypeVar("T")
# Slack on a blocking read beyond the wait the server was asked for.
IO_SLACK_S = 30.0


class SyncLease(LeaseState):
    """A lock or semaphore slot for blocking code; behaves as `AsyncLease`."""

    def __init__(
        self,
        client: SyncDflockClient,
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
        self._pool: SyncServerPool = client._pool_for(key)
        self._conn: SyncConnection | None = None
        self._io = threading.Lock()  # one exchange at a time on this handle's connection

    # -- acquiring ---------------------------------------------------------------

    def acquire(self, timeout_s: float | None = None) -> bool:
        """Wait up to `timeout_s` (default: the handle's) in FIFO order; False on timeout."""
        self._check_idle()
        whole, cut = wire_timeout(self._timeout_for(timeout_s))
        arg = proto.make_acquire_arg(whole, limit=self.limit, lease_ttl_s=self.lease_ttl_s)

        def ask(conn: SyncConnection) -> tuple[str, int]:
            # A socket timeout at `cut` closes the connection, and with it the waiter.
            answer = conn.wire.command(
                proto.cmd_name(self._prefix, "l"),
                self.key,
                arg,
                read_timeout=cut if cut is not None else whole + IO_SLACK_S,
            )
            return proto.parse_grant_response(answer, op="acquire")

        try:
            conn, (token, lease) = self._exchange(ask)
        except TimeoutError:
            return False  # the server's `timeout`, or our own cut of a fractional wait
        self._granted(conn, token, lease)
        return True

    def enqueue(self) -> bool:
        """Join the queue without waiting; True if granted at once. Then call `wait()`."""
        self._check_idle()
        arg = proto.make_enqueue_arg(limit=self.limit, lease_ttl_s=self.lease_ttl_s)

        def ask(conn: SyncConnection) -> tuple[str, str | None, int | None]:
            answer = conn.wire.command(
                proto.cmd_name(self._prefix, "e"), self.key, arg, read_timeout=IO_SLACK_S
            )
            return proto.parse_enqueue_response(answer, op="enqueue")

        conn, (status, token, lease) = self._exchange(ask)
        if status == "acquired" and token is not None and lease is not None:
            self._granted(conn, token, lease)
            return True
        self._conn, self._queued = conn, True
        return False

    def wait(self, timeout_s: float | None = None) -> bool:
        """Second phase after `enqueue()`: wait for the grant; False on timeout."""
        if self.held:
            return True
        if not self._queued or self._conn is None:
            raise RuntimeError(f"wait() on {self.name!r} needs a prior enqueue()")
        conn, self._conn, self._queued = self._conn, None, False
        whole, cut = wire_timeout(self._timeout_for(timeout_s))
        try:
            answer = conn.wire.command(
                proto.cmd_name(self._prefix, "w"),
                self.key,
                proto.make_wait_arg(whole),
                read_timeout=cut if cut is not None else whole + IO_SLACK_S,
            )
            token, lease = proto.parse_grant_response(answer, op="wait")
        except BaseException as exc:
            # After a two-phase timeout the connection may still be queued on the
            # key; closing it is the one way to be sure it is not granted later.
            self._pool.discard(conn)
            if isinstance(exc, TimeoutError):
                return False
            raise_failure(exc, name=self.name, server=self._pool.server)
        self._granted(conn, token, lease)
        return True

    def _exchange(self, ask: Callable[[SyncConnection], T]) -> tuple[SyncConnection, T]:
        """As `AsyncLease._exchange`: one request, one retry if a reused connection was stale."""
        for attempt in (1, 2):
            conn = self._pool.checkout()
            try:
                answer = ask(conn)
            except BaseException as exc:
                if connection_survives(exc):
                    conn.touch()
                    self._pool.checkin(conn)
                else:
                    self._pool.discard(conn)
                    if worth_retrying(exc, reused=conn.reused, attempt=attempt):
                        continue
                raise_failure(exc, name=self.name, server=self._pool.server)
            conn.touch()
            return conn, answer  # the caller now owns the connection
        raise AssertionError("unreachable")  # pragma: no cover

    def _granted(self, conn: SyncConnection, token: str, lease: int) -> None:
        conn.touch()
        self._conn = conn
        self._record_grant(token, lease)
        self._client._renewer().schedule(self, self._interval())

    def _interval(self) -> float:
        settings = self._client.settings
        return renew_interval(self.lease, settings.renew_ratio, settings.server_read_timeout_s)

    # -- holding (on the renewal thread) -------------------------------------------------

    def renew_due(self) -> float | None:
        with self._io:
            conn, token = self._conn, self.token
            if conn is None or token is None or self.lost:
                return None  # released meanwhile: stop renewing
            interval = self._interval()
            try:
                answer = conn.wire.command(
                    proto.cmd_name(self._prefix, "n"),
                    self.key,
                    proto.make_renew_arg(token, self.lease_ttl_s),
                    read_timeout=renew_read_timeout(self.lease, interval),
                )
                self.lease = proto.parse_renew_response(answer, op="renew")
                conn.touch()
            except Exception as exc:
                if self._record_loss(f"renewal failed: {exc or type(exc).__name__}"):
                    self._pool.discard(conn)
                    self._conn = None
                    lost = True
                else:
                    lost = False
            else:
                return self._interval()
        if lost:
            self._notify_lost()  # outside the lock: a callback may look at the handle
        return None

    # -- releasing ---------------------------------------------------------------

    def release(self) -> None:
        """Give the grant back. Raises LockLostError if it had already been lost."""
        with self._io:  # waits for a renewal in flight on this connection
            conn, token, queued = self._conn, self.token, self._queued
            self._conn = None
            try:
                if queued and conn is not None:
                    self._pool.discard(conn)  # closing the connection withdraws the waiter
                    return
                if self.lost:
                    raise self._lost_error()
                if conn is None or token is None:
                    return
                self._send_release(conn, token)
            finally:
                self._clear()

    def _send_release(self, conn: SyncConnection, token: str) -> None:
        try:
            answer = conn.wire.command(
                proto.cmd_name(self._prefix, "r"), self.key, token, read_timeout=IO_SLACK_S
            )
            proto.parse_release_response(answer, op="release")
        except dflockd_client.DflockdError:
            self._pool.discard(conn)
            raise self._expired_error(conn.server) from None
        except BaseException as exc:
            # Closing the connection releases the grant on the server as well.
            self._pool.discard(conn)
            if not isinstance(exc, Exception):
                raise
            log.warning(
                "dflock release of %r failed (%s); connection closed instead", self.name, exc
            )
            return
        conn.touch()
        self._pool.checkin(conn)

    # -- context manager ---------------------------------------------------------

    def __enter__(self) -> Self:
        if not self.acquire():
            raise self.timeout_error(self.acquire_timeout_s)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.release()
        except LockLostError as lost:
            if exc is not None:
                raise lost from exc
            raise
