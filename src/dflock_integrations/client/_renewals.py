"""Held leases on an event loop: renewed in time, and known lost the moment they are.

Shared by both clients: the async client keeps its leases on the application's loop,
the sync client on its background loop (see `_sync/_keeper.py`). Everything here
runs on that loop with callbacks and timers, so a thousand held leases cost no
tasks, and a server that stops answering delays no renewal on another server.

A lease is lost when its connection closes (noticed at once: the loop watches the
socket), when a renewal is refused (the lease had ended) or when a renewal is not
answered before the lease would run out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._dispatch import Outcome, Receiver
from dflock_integrations.client._state import LeaseState
from dflock_integrations.client._timing import renew_answer_timeout, renew_interval
from dflock_integrations.errors import DflockError

log = logging.getLogger("dflock_integrations")

# How long a lease is held before it gets a renewal timer; well inside the shortest
# renewal interval (MIN_RENEW_INTERVAL_S) plus the time a renewal may take.
YOUNG_S = 0.05


class Channel(Protocol):
    """What a held lease's connection offers the loop (both connection classes do)."""

    server: str
    closed: bool
    on_close: Callable[[DflockError], None] | None

    def send(self, data: bytes, kind: str, receiver: Receiver) -> None: ...

    def send_many(self, requests: list[bytes], kind: str, receiver: Receiver) -> None: ...

    def close(self) -> None: ...


class Pool(Protocol):
    def checkin(self, conn: Any) -> None: ...

    def discard(self, conn: Any) -> None: ...


@dataclass(eq=False)
class Holding:
    lease: LeaseState
    conn: Channel
    pool: Pool
    timer: asyncio.TimerHandle | None = None
    in_flight: bool = False


class Renewals:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, *, renew_ratio: float, idle_s: float
    ) -> None:
        self.loop = loop
        self._renew_ratio = renew_ratio
        self._idle_s = idle_s  # the server's read timeout: renewals also keep the line busy
        self._held: dict[LeaseState, Holding] = {}
        # Leases held under YOUNG_S wait here, oldest first, for their renewal timer: most
        # holds are shorter than that, and a timer made and cancelled per lock cycle
        # would cost more than the cycle's own bookkeeping.
        self._young: dict[LeaseState, tuple[Holding, float]] = {}
        self._tick: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._held)

    def keep(self, lease: LeaseState, conn: Channel, pool: Pool) -> None:
        holding = Holding(lease, conn, pool)
        self._held[lease] = holding
        conn.on_close = lambda error: self._lose(holding, f"the connection closed ({error})")
        if conn.closed:
            self._lose(holding, "the connection closed")
            return
        self._young[lease] = (holding, time.monotonic())
        if self._tick is None:
            self._tick = self.loop.call_later(YOUNG_S, self._grow_up)

    def _grow_up(self) -> None:
        """Give the leases held YOUNG_S or longer their renewal timers."""
        self._tick = None
        old_enough = time.monotonic() - YOUNG_S
        for lease, (holding, since) in list(self._young.items()):
            if since > old_enough:
                break  # the rest are younger still
            del self._young[lease]
            if self._held.get(lease) is holding:
                self._schedule(holding)
        if self._young:
            self._tick = self.loop.call_later(YOUNG_S, self._grow_up)

    def _schedule(self, holding: Holding) -> None:
        lease = holding.lease
        interval = renew_interval(lease.lease, self._renew_ratio, self._idle_s)
        # Counted from the grant or last renewal, not from now: a sync lease reaches the
        # loop a moment after its grant.
        due = lease.expires_at - lease.lease + interval - time.monotonic()
        holding.timer = self.loop.call_later(max(0.0, due), self._renew, holding)

    def _renew(self, holding: Holding) -> None:
        holding.timer = None
        lease, conn = holding.lease, holding.conn
        if lease.token is None:
            return
        sent_at = time.monotonic()
        interval = renew_interval(lease.lease, self._renew_ratio, self._idle_s)
        patience = min(renew_answer_timeout(lease.lease, interval), lease.expires_at - sent_at)
        requests = lease._renew_requests()

        def answered(outcome: Outcome) -> None:
            late.cancel()
            holding.in_flight = False
            if self._held.get(lease) is not holding:
                return  # released (or lost) meanwhile
            if isinstance(outcome, protocol.Renewed):
                lease._record_renewal(outcome.lease_s, sent_at)
                self._schedule(holding)
            elif isinstance(outcome, protocol.Refused):
                refused = f"dflockd at {conn.server} refused the renewal ({outcome.status})"
                self._lose(holding, refused)
            else:
                self._lose(holding, f"the renewal failed ({outcome})")

        def too_late() -> None:
            if holding.in_flight:
                silent = f"dflockd at {conn.server} did not answer the renewal in {patience:.3g} s"
                self._lose(holding, silent)

        late = self.loop.call_later(max(0.0, patience), too_late)
        holding.in_flight = True
        send_all(conn, requests, protocol.RENEW, answered)

    def _lose(self, holding: Holding, reason: str) -> None:
        if self._held.pop(holding.lease, None) is not holding:
            return
        self._young.pop(holding.lease, None)
        if holding.timer is not None:
            holding.timer.cancel()
        holding.conn.on_close = None
        holding.pool.discard(holding.conn)  # the server drops whatever is left on it
        holding.lease._record_loss(reason)

    def release(
        self, lease: LeaseState, requests: list[bytes], *, on_answer: Callable[[Outcome], None]
    ) -> Holding | None:
        """Stop keeping `lease` and send its release; the holding, or None if not kept.

        A renewal in flight needs no waiting for: the release follows it on the same
        connection and is answered after it.
        """
        holding = self._held.pop(lease, None)
        if holding is None:
            return None
        self._young.pop(lease, None)
        if holding.timer is not None:
            holding.timer.cancel()
        holding.conn.on_close = None
        send_all(holding.conn, requests, protocol.DONE, on_answer)
        return holding

    def drop_all(self) -> None:
        """Stop renewing (the client is closing); the connections stay with their leases."""
        for holding in self._held.values():
            if holding.timer is not None:
                holding.timer.cancel()
            holding.conn.on_close = None
        self._held.clear()
        self._young.clear()
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None


def send_all(
    conn: Channel, requests: list[bytes], kind: str, on_answer: Callable[[Outcome], None]
) -> None:
    """Send several requests; `on_answer` gets one outcome once all are answered: the first
    that is not what was asked (a refusal, an error), else the last answer."""
    if len(requests) == 1:
        receiver: Callable[[Outcome], None] = on_answer
    else:
        outcomes: list[Outcome] = []

        def receiver(outcome: Outcome) -> None:
            outcomes.append(outcome)
            if len(outcomes) == len(requests):
                bad = (o for o in outcomes if isinstance(o, BaseException | protocol.Refused))
                on_answer(next(bad, outcomes[-1]))

    try:
        conn.send_many(requests, kind, receiver)
    except DflockError as exc:
        on_answer(exc)


def release_refusal(lease: LeaseState, outcome: Outcome) -> DflockError | None:
    """What a release's answer means: None when it went through, else the error.

    A refusal means the lease had ended while it was held: it is logged and the
    handle's on_lost callbacks hear of it, even though release() has returned. A closed
    connection is no failure: closing releases everything the connection held.
    """
    if not isinstance(outcome, protocol.Refused):
        return None
    return lease._ended_before_release(
        f"dflockd at {lease.server} refused the release ({outcome.status}): the lease had "
        "already ended"
    )
