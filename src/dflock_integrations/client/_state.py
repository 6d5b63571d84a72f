"""What a lock or semaphore handle knows, without I/O; shared by the async and sync handles."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._timing import ANSWER_GRACE_S
from dflock_integrations.errors import LockLostError, LockTimeout
from dflock_integrations.metrics import NO_METRICS, Metrics

log = logging.getLogger("dflock_integrations")

Callback = Callable[[Any], object]


class LeaseState:
    """One grant on one key: its token, lease, fence, and whether it was lost.

    `expires_at` is the lease's end on our monotonic clock, counted from the moment
    the request that granted or renewed it was sent (for a grant that waited in the
    queue, from shortly before its answer arrived), so it never falls after the
    server's own end for it.
    """

    kind = "lease"
    metric_name = ""  # the key's template, for metrics (set by the client when they are on)
    _metrics: Metrics = NO_METRICS

    def __init__(
        self,
        name: str,
        key: str,
        server: str,
        *,
        limit: int | None,
        acquire_timeout_s: float,
        lease_ttl_s: int,
    ) -> None:
        self.name = name  # as the caller wrote it
        self.key = key  # as sent: with the key prefix
        self.server = server  # host:port of the server that owns the key
        self.limit = limit
        self.acquire_timeout_s = acquire_timeout_s
        self.lease_ttl_s = lease_ttl_s
        self.token: str | None = None
        self.lease = 0  # seconds of lease at the last grant or renewal
        self.fence: int | None = None
        self.lost = False
        self.expires_at = 0.0
        self._granted_at = 0.0
        self._queued = False
        self._lost_callbacks: list[Callback] = []
        self._lost_reason = ""

    @property
    def held(self) -> bool:
        return self.token is not None and not self.lost

    def on_lost(self, callback: Callback) -> Callback:
        """Call `callback(handle)` once if the lease is lost while held (usable as a decorator).

        Callbacks run where the loss is noticed: the event loop (async), or the sync
        client's background thread; keep them short and do not block in them.
        """
        self._lost_callbacks.append(callback)
        if self.lost:
            self._run_callback(callback)
        return callback

    def __repr__(self) -> str:
        state = "lost" if self.lost else "held" if self.token else "queued" if self._queued else ""
        limit = f" limit={self.limit}" if self.limit is not None else ""
        return f"<{type(self).__name__} {self.name!r}{limit} {state or 'released'}>"

    def _renew_requests(self) -> list[bytes]:
        """What renews this lease (one request; a multilock handle needs one per token)."""
        assert self.token is not None
        return [protocol.renew(self.key, self.token, self.lease_ttl_s, self.limit)]

    def _release_requests(self) -> list[bytes]:
        assert self.token is not None
        return [protocol.release(self.key, self.token, self.limit)]

    def _timeout_for(self, timeout_s: float | None) -> float:
        return self.acquire_timeout_s if timeout_s is None else timeout_s

    def _check_idle(self) -> None:
        if self.token is not None or self._queued:
            raise RuntimeError(f"{self!r} is already acquired or queued; release it first")

    def _record_grant(self, token: str, lease_s: int, fence: int | None, sent_at: float) -> None:
        self.token, self.lease, self.fence = token, lease_s, fence
        self.lost, self._queued = False, False
        now = time.monotonic()
        # The server starts the lease when it grants. A wait in the queue may put that
        # long after the request was sent (longer than the lease itself), but not
        # longer before its answer arrived than an answer takes to travel.
        self.expires_at = max(sent_at, now - ANSWER_GRACE_S) + lease_s
        self._granted_at = now

    def _record_renewal(self, lease_s: int, sent_at: float) -> None:
        self.lease = lease_s
        self.expires_at = sent_at + lease_s

    def _expired_locally(self) -> bool:
        return self.token is not None and time.monotonic() >= self.expires_at

    def _record_loss(self, reason: str) -> bool:
        """Mark the lease lost and tell the callbacks; True the first time only."""
        if self.lost or self.token is None:
            return False
        self.lost, self._lost_reason = True, reason
        log.error("dflock lease on %r lost: %s", self.name, reason)
        self._report_hold("lost")
        for callback in list(self._lost_callbacks):
            self._run_callback(callback)
        return True

    def _report_wait(self, started: float, outcome: str) -> None:
        metrics = self._metrics
        if metrics.enabled:
            held = time.monotonic() - started
            metrics.waited(self.kind, self.metric_name, self.server, held, outcome)

    def _check_before_release(self, pool: Any, conn: Any) -> None:
        """Raise LockLostError, dropping `conn`, when the grant is no longer ours to give
        back: lost already, or its lease ran out here because renewals did not keep up
        (a blocked event loop), so the server may have granted the key to someone else."""
        if not self.lost and self._expired_locally():
            self._record_loss("the lease ran out before release")
        if self.lost:
            pool.discard(conn)
            raise self._lost_error()
        self._report_hold("released")

    def _report_hold(self, outcome: str) -> None:
        metrics = self._metrics
        if metrics.enabled and self.token is not None:
            held = time.monotonic() - self._granted_at
            metrics.held(self.kind, self.metric_name, self.server, held, outcome)

    def _ended_before_release(self, reason: str) -> LockLostError:
        """A release found the lease already gone; told after the fact, as a loss."""
        log.error("dflock lease on %r lost: %s", self.name, reason)
        for callback in list(self._lost_callbacks):
            self._run_callback(callback)
        return LockLostError(f"the lease on {self.name!r} was lost: {reason}", key=self.name)

    def _run_callback(self, callback: Callback) -> None:
        try:
            callback(self)
        except Exception:
            log.exception("on_lost callback for %r raised", self.name)

    def _clear(self) -> None:
        self.token = None
        self.lease = 0
        self.fence = None
        self._queued = False

    def _lost_error(self) -> LockLostError:
        return LockLostError(
            f"the lease on {self.name!r} was lost before release: {self._lost_reason}",
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
