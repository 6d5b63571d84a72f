"""What a lock or semaphore handle knows, without I/O; shared by the async and sync handles.

The two handles differ only in how they talk to the server (asyncio streams and
tasks, or blocking sockets and a renewal thread); everything here is written once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NoReturn

import dflockd_client

from dflock_integrations.client._connection import unavailable
from dflock_integrations.client._timing import fence_of
from dflock_integrations.errors import LockLostError, LockTimeout, translate_status_error
from dflock_integrations.settings import ServerAddress

log = logging.getLogger("dflock_integrations")


class LeaseState:
    """One grant on one key: its token, lease, fence and whether it was lost."""

    kind = "lease"

    def __init__(
        self,
        name: str,
        key: str,
        server: ServerAddress,
        *,
        limit: int | None,
        acquire_timeout_s: float,
        lease_ttl_s: int,
    ) -> None:
        self.name = name  # as the caller wrote it
        self.key = key  # as sent: with the key prefix
        self.limit = limit
        self.acquire_timeout_s = acquire_timeout_s
        self.lease_ttl_s = lease_ttl_s
        self.token: str | None = None
        self.lease: int = 0  # seconds left at the last grant or renewal
        self.lost = False
        self._server = server
        self._queued = False
        self._lost_callbacks: list[Callable[[Any], object]] = []
        self._lost_reason = ""

    @property
    def held(self) -> bool:
        return self.token is not None and not self.lost

    @property
    def fence(self) -> int | None:
        """Monotonic number of this grant (per server), for fencing writes downstream."""
        return fence_of(self.token) if self.token else None

    @property
    def server(self) -> str:
        return str(self._server)

    def on_lost(self, callback: Callable[[Any], object]) -> Callable[[Any], object]:
        """Call `callback(handle)` once if the lease is lost while held (usable as a decorator).

        Callbacks run where renewal runs (the event loop, or the sync client's renewal
        thread); keep them short.
        """
        self._lost_callbacks.append(callback)
        if self.lost:
            self._run_callback(callback)
        return callback

    def __repr__(self) -> str:
        state = "lost" if self.lost else "held" if self.token else "queued" if self._queued else ""
        limit = f" limit={self.limit}" if self.limit is not None else ""
        return f"<{type(self).__name__} {self.name!r}{limit} {state or 'released'}>"

    @property
    def _prefix(self) -> str:
        return "" if self.limit is None else "s"

    def _timeout_for(self, timeout_s: float | None) -> float:
        return self.acquire_timeout_s if timeout_s is None else timeout_s

    def _check_idle(self) -> None:
        if self.token is not None or self._queued:
            raise RuntimeError(f"{self!r} is already acquired or queued; release it first")

    def _record_grant(self, token: str, lease: int) -> None:
        self.token, self.lease, self.lost, self._queued = token, lease, False, False

    def _record_loss(self, reason: str) -> bool:
        """Mark the lease lost; True the first time, so the caller cleans up once."""
        if self.lost:
            return False
        self.lost, self._lost_reason = True, reason
        log.error("dflock lease on %r lost (%s)", self.name, reason)
        return True

    def _notify_lost(self) -> None:
        for callback in list(self._lost_callbacks):
            self._run_callback(callback)

    def _run_callback(self, callback: Callable[[Any], object]) -> None:
        try:
            callback(self)
        except Exception:
            log.exception("on_lost callback for %r raised", self.name)

    def _clear(self) -> None:
        self.token = None
        self.lease = 0
        self._queued = False

    def _lost_error(self) -> LockLostError:
        return LockLostError(
            f"the lease on {self.name!r} was lost before release ({self._lost_reason})",
            key=self.name,
        )

    def _expired_error(self, server: ServerAddress) -> LockLostError:
        """`error` to a release: the server no longer knows the grant; it ran out while held."""
        self.lost = True
        return LockLostError(
            f"dflockd at {server} no longer had the lease on {self.name!r} at release; "
            "it expired while held",
            key=self.name,
        )

    def timeout_error(self, timeout_s: float) -> LockTimeout:
        """The LockTimeout for this handle not granted within `timeout_s`."""
        what = "lock" if self.limit is None else f"semaphore slot (limit {self.limit})"
        return LockTimeout(
            f"{what} {self.name!r} not granted within {timeout_s:g} s",
            key=self.name,
            timeout_s=timeout_s,
            limit=self.limit,
        )


# -- what a failed request means; the same decisions for both handles ---------------------


def connection_survives(exc: BaseException) -> bool:
    """A complete answer (a refusal, or `timeout`) leaves the connection usable.

    Anything else may have cut a request mid-exchange: the connection's state is
    unknown and a grant may have raced in, so it must be closed, which makes the
    server withdraw the waiter and drop the grant.
    """
    return isinstance(exc, dflockd_client.DflockdError | dflockd_client.DflockdTimeoutError)


def worth_retrying(exc: BaseException, *, reused: bool, attempt: int) -> bool:
    """A reused pooled connection that turned out closed gets one fresh retry.

    Safe: when a connection closes the server withdraws everything it had queued or
    held, so the first attempt cannot leave a grant behind.
    """
    return attempt == 1 and reused and isinstance(exc, ConnectionError | EOFError)


def raise_failure(exc: BaseException, *, name: str, server: ServerAddress) -> NoReturn:
    """Raise a request's failure in this package's terms.

    Timeouts (the server's `timeout` or our own cut) and cancellation pass as they
    are; status answers become our error classes; I/O failures ServerUnavailable.
    """
    if isinstance(exc, TimeoutError):  # before OSError: TimeoutError is one
        raise exc
    if isinstance(exc, dflockd_client.DflockdError):
        raise translate_status_error(exc, key=name) from None
    if isinstance(exc, OSError | EOFError):
        raise unavailable(server, exc) from None
    raise exc
