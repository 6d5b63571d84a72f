"""One leader among processes: a lease on one key, waited for in FIFO order.

A loop of its own (a daemon thread) waits in the key's queue, holds the lease once
granted (the client renews it over the same connection) and knows at once when it is
lost: the connection closed, a renewal refused (the server gave the key to the next
in line), or no answer before the lease would end. The process asks `leading()`
before every action only the leader may take; it answers from memory, so asking
costs nothing and never waits for the network.

Renewals carry the grant's token and the server refuses a token that is no longer
the key's, so a process that lost the key cannot renew it back (redbeat#127, two
leaders after renewals without an ownership check, cannot happen). Stopping cancels
the wait, which closes its connection and so leaves the queue at once (redbeat#85, a
standby stuck on "Acquiring lock", cannot happen either).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from dflock_integrations.client import AsyncDflockClient, AsyncLock
from dflock_integrations.client._portal import Portal
from dflock_integrations.errors import AuthenticationError, DflockError, LockLostError
from dflock_integrations.settings import DflockSettings

log = logging.getLogger("dflock_integrations.celery.beat")

# One wait in the queue; another follows at once (the protocol needs a bound).
WAIT_SLICE_S = 3600.0
# Pauses after a server could not be reached, growing with each failure in a row.
RETRY_PAUSES_S = (0.5, 1.0, 2.0)
# How long stopping may take: a release answered, or the connection closed.
STOP_GRACE_S = 2.0
# A lease with less than this left (at most a quarter of it) counts as gone already:
# what is sent must reach the broker while the server still counts us as the holder.
MAX_MARGIN_S = 1.0


class Leadership:
    """Hold `key` whenever the queue lets this process; `leading()` says if it does now."""

    def __init__(self, settings: DflockSettings, key: str, *, lease_ttl_s: int, label: str) -> None:
        self.key = key
        self.lease_ttl_s = lease_ttl_s
        self._settings = settings
        self._label = label
        self._margin_s = min(MAX_MARGIN_S, lease_ttl_s / 4)
        self._lease: AsyncLock | None = None
        self._term = 0
        self._portal: Portal | None = None
        self._done = threading.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        portal = self._portal = Portal(name="dflock-leadership")
        started = threading.Event()

        def begin() -> None:
            self._task = portal.loop.create_task(self._run())
            started.set()

        portal.loop.call_soon_threadsafe(begin)
        started.wait()

    def leading(self) -> int | None:
        """The term (1 for the first lease held, 2 for the next...) while this process
        holds the key with time to spare, else None."""
        lease = self._lease
        if lease is None or not lease.held:
            return None
        if time.monotonic() > lease.expires_at - self._margin_s:
            return None  # the keeper has not noticed yet; the server may have
        return self._term

    def stop(self) -> None:
        """Give the key back (the next in line takes it at once) or leave the queue."""
        portal, task = self._portal, self._task
        self._portal = self._task = None
        if portal is None:
            return
        if task is not None:
            portal.loop.call_soon_threadsafe(task.cancel)
            self._done.wait(STOP_GRACE_S + 1.0)
        portal.close()

    async def _run(self) -> None:
        client = AsyncDflockClient(self._settings)
        try:
            await self._lead(client)
        except asyncio.CancelledError:
            lease, self._lease = self._lease, None
            if lease is not None and lease.held:
                with contextlib.suppress(DflockError, asyncio.TimeoutError):
                    await asyncio.wait_for(lease.release(wait=True), STOP_GRACE_S)
            raise
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()
            self._done.set()

    async def _lead(self, client: AsyncDflockClient) -> None:
        failures = 0
        while True:
            lock = client.lock(self.key, lease_ttl_s=self.lease_ttl_s, label=self._label)
            try:
                granted = await lock.acquire(timeout_s=WAIT_SLICE_S)
            except DflockError as exc:
                pause = RETRY_PAUSES_S[min(failures, len(RETRY_PAUSES_S) - 1)]
                if failures == 0:
                    level = (
                        logging.ERROR if isinstance(exc, AuthenticationError) else logging.WARNING
                    )
                    log.log(
                        level,
                        "dflock: cannot wait for %r: %s; this beat sends nothing and tries "
                        "again every few seconds",
                        self.key,
                        exc,
                    )
                failures += 1
                await asyncio.sleep(pause)
                continue
            if not granted:
                continue
            if failures:
                log.info("dflock: the server answers again")
            failures = 0
            await self._hold(lock)

    async def _hold(self, lock: AsyncLock) -> None:
        lost = asyncio.Event()
        lock.on_lost(lambda _lease: lost.set())
        self._term += 1
        self._lease = lock  # after the term: whoever sees this lease sees its term
        log.info(
            "dflock: this beat leads now (it holds %r, lease %d s) and sends the schedule",
            self.key,
            self.lease_ttl_s,
        )
        await lost.wait()
        self._lease = None
        log.warning(
            "dflock: this beat lost %r (%s); it sends nothing and waits in the queue again",
            self.key,
            lock._lost_reason,
        )
        with contextlib.suppress(LockLostError):
            await lock.release()  # closes the lost grant's connection
