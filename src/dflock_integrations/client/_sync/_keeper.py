"""`SyncKeeper`: held leases of the sync client, handed to a background loop after a moment.

A lock cycle must not pay a thread hop, so a grant stays with the calling thread,
which also sends a quick release itself. A lease held longer than `ATTACH_AFTER_S`
is taken over by the client's loop thread, which watches its socket (a closed
connection marks it lost at once) and renews it beside every other lease, so a
frozen server costs no lease elsewhere. Its release then goes through that loop.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._dispatch import Outcome
from dflock_integrations.client._failures import no_answer
from dflock_integrations.client._portal import Portal
from dflock_integrations.client._renewals import Renewals, release_refusal, send_all
from dflock_integrations.client._state import LeaseState
from dflock_integrations.client._sync._connection import SyncConnection
from dflock_integrations.client._sync._pool import SyncPool
from dflock_integrations.errors import DflockError

if TYPE_CHECKING:
    from dflock_integrations.client._async._client import AsyncDflockClient
    from dflock_integrations.client._sync._client import SyncDflockClient

# Held longer than this, a lease is watched and renewed by the loop thread. Well inside
# the 1 s in which a crashed server's leases must be known lost, and short next to any
# renewal interval worth having.
ATTACH_AFTER_S = 0.1
KEEP_TICKING_S = 1.0


class SyncKeeper:
    def __init__(self, client: SyncDflockClient) -> None:
        self._client = client
        self._portal: Portal | None = None
        self._renewals: Renewals | None = None
        self._guard = threading.Lock()
        self._fresh: dict[LeaseState, tuple[SyncConnection, SyncPool, float]] = {}
        self._ticking = False
        self._quiet_since = 0.0  # when the tick last found no fresh lease
        self._twin: AsyncDflockClient | None = None

    def portal(self) -> Portal:
        """The client's loop thread, started on first need."""
        if self._portal is None:
            with self._guard:
                if self._portal is None:
                    portal = Portal(name="dflock-keeper")
                    settings = self._client.settings
                    self._renewals = Renewals(
                        portal.loop,
                        renew_ratio=settings.renew_ratio,
                        idle_s=settings.server_read_timeout_s,
                    )
                    self._portal = portal
        return self._portal

    def async_twin(self) -> AsyncDflockClient:
        """An async client with the same settings, on this loop (for listening)."""
        self.portal()
        if self._twin is None:
            from dflock_integrations.client._async._client import AsyncDflockClient

            # Its metrics are ours: a sync rate limiter reports through it.
            self._twin = AsyncDflockClient(self._client.settings, metrics=self._client._metrics)
        return self._twin

    @property
    def held(self) -> int:
        return len(self._fresh) + (len(self._renewals) if self._renewals is not None else 0)

    def hold(self, lease: LeaseState, conn: SyncConnection, pool: SyncPool) -> None:
        """Right after a grant, on the caller's thread: no waking the loop per lock cycle."""
        portal = self.portal()
        now = time.monotonic()
        with self._guard:
            self._fresh[lease] = (conn, pool, now)
            self._quiet_since = now
            start, self._ticking = not self._ticking, True
        if start:
            portal.loop.call_soon_threadsafe(self._tick)

    def _tick(self) -> None:
        """On the loop: take over the leases held long enough.

        It keeps ticking for a while after the last fresh lease went, so a thread that
        locks and unlocks in a loop wakes this thread a few times a second, not per cycle.
        """
        portal, renewals = self._portal, self._renewals
        if portal is None or renewals is None:  # closed while this tick was pending
            self._ticking = False
            return
        now = time.monotonic()
        taken = []
        with self._guard:
            for lease, (conn, pool, since) in list(self._fresh.items()):
                if now - since >= ATTACH_AFTER_S:
                    del self._fresh[lease]
                    taken.append((lease, conn, pool))
            if self._fresh:
                self._quiet_since = now
            elif now - self._quiet_since > KEEP_TICKING_S:
                self._ticking = False
        for lease, conn, pool in taken:
            conn.attach(portal.loop)
            renewals.keep(lease, conn, pool)
        if self._ticking:
            portal.loop.call_later(ATTACH_AFTER_S / 2, self._tick)

    def release(
        self, lease: LeaseState, conn: SyncConnection, pool: SyncPool, *, wait: bool
    ) -> None:
        """Send the release; return at once, or (`wait`) when the server has answered."""
        with self._guard:
            fresh = self._fresh.pop(lease, None) is not None
        if fresh:
            self._release_here(lease, conn, pool, wait=wait)
        else:
            # The loop owns the connection until the answer: waiting for it costs one
            # round trip after a hold of 0.1 s or more, and keeps the promise that this
            # client's next request finds the release done.
            self._release_on_loop(lease, conn, pool, wait=True)

    def _release_here(
        self, lease: LeaseState, conn: SyncConnection, pool: SyncPool, *, wait: bool
    ) -> None:
        requests = lease._release_requests()
        if not wait:

            def on_answer(outcome: Outcome) -> None:
                release_refusal(lease, outcome)

            # The answer is read by the connection's next user; a refusal is reported then.
            send_all(conn, requests, protocol.DONE, on_answer)
            pool.checkin(conn)
            return
        patience = self._client.settings.connect_timeout_s
        try:
            answers = conn.exchange_many(requests, protocol.DONE, patience)
            answer = next((a for a in answers if not isinstance(a, protocol.Done)), answers[-1])
        except TimeoutError:
            pool.discard(conn)
            raise no_answer(lease.server, patience) from None
        except DflockError:
            pool.discard(conn)  # closed: that released it as well
            return
        pool.checkin(conn)
        refusal = release_refusal(lease, answer)
        if refusal is not None:
            raise refusal

    def _release_on_loop(
        self, lease: LeaseState, conn: SyncConnection, pool: SyncPool, *, wait: bool
    ) -> None:
        portal = self.portal()
        done = threading.Event()
        result: list[DflockError | None] = []
        requests = lease._release_requests()  # before the handle is cleared

        def on_answer(outcome: Outcome) -> None:
            result.append(release_refusal(lease, outcome))
            conn.detach()  # no answer outstanding now: back to the calling threads
            pool.checkin(conn)
            done.set()

        def start() -> None:
            assert self._renewals is not None
            if self._renewals.release(lease, requests, on_answer=on_answer) is None:
                pool.discard(conn)  # lost meanwhile: closing releases it
                result.append(None)
                done.set()

        portal.loop.call_soon_threadsafe(start)
        if not wait:
            return
        patience = self._client.settings.connect_timeout_s
        if not done.wait(patience):
            raise no_answer(lease.server, patience)
        if result and result[0] is not None:
            raise result[0]

    def close(self) -> None:
        """Stop the loop thread; held leases keep their connections until released."""
        portal, self._portal = self._portal, None
        renewals, self._renewals = self._renewals, None
        twin, self._twin = self._twin, None
        if portal is not None:
            if twin is not None:
                portal.call(twin.aclose())
            if renewals is not None:
                portal.loop.call_soon_threadsafe(renewals.drop_all)
            portal.close()
