"""`AsyncKeeper`: the async client's held leases, renewed on the application's loop."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._async._connection import AsyncConnection
from dflock_integrations.client._async._pool import AsyncPool
from dflock_integrations.client._dispatch import Outcome
from dflock_integrations.client._failures import no_answer
from dflock_integrations.client._renewals import Renewals, release_refusal
from dflock_integrations.client._state import LeaseState
from dflock_integrations.errors import DflockError

if TYPE_CHECKING:
    from dflock_integrations.client._async._client import AsyncDflockClient


class AsyncKeeper:
    def __init__(self, client: AsyncDflockClient) -> None:
        self._client = client
        self._renewals: Renewals | None = None
        self._parked: dict[AsyncConnection, list[Any]] = {}  # conn -> [pool, until]
        self._parking_tick: asyncio.TimerHandle | None = None

    def _on_loop(self) -> Renewals:
        if self._renewals is None:
            settings = self._client.settings
            self._renewals = Renewals(
                asyncio.get_running_loop(),
                renew_ratio=settings.renew_ratio,
                idle_s=settings.server_read_timeout_s,
            )
        return self._renewals

    @property
    def held(self) -> int:
        return len(self._renewals) if self._renewals is not None else 0

    def hold(self, lease: LeaseState, conn: AsyncConnection, pool: AsyncPool) -> None:
        self._on_loop().keep(lease, conn, pool)

    async def release(
        self, lease: LeaseState, conn: AsyncConnection, pool: AsyncPool, *, wait: bool
    ) -> None:
        """Send the release; return at once, or (`wait`) when the server has answered."""
        answer: asyncio.Future[DflockError | None] | None = None
        if wait:
            answer = asyncio.get_running_loop().create_future()

        def on_answer(outcome: Outcome) -> None:
            refusal = release_refusal(lease, outcome)
            if answer is not None and not answer.done():
                answer.set_result(refusal)  # a closed connection released it too

        requests = lease._release_requests()
        if self._on_loop().release(lease, requests, on_answer=on_answer) is None:
            pool.discard(conn)  # not kept (lost meanwhile): closing releases it
            return
        pool.checkin(conn)  # the next request on it simply follows the release
        if answer is None:
            return
        patience = self._client.settings.connect_timeout_s
        try:
            refusal = await asyncio.wait_for(answer, patience)
        except asyncio.TimeoutError:
            raise no_answer(lease.server, patience) from None
        if refusal is not None:
            raise refusal

    # -- parked connections: grants that end on their own (rate limits) -------------------

    def park(self, conn: AsyncConnection, pool: AsyncPool | None, until: float) -> None:
        """Keep `conn` open (and pinged) until `until`, then give it back to `pool`."""
        entry = self._parked.get(conn)
        if entry is not None:
            entry[1] = max(entry[1], until)
            return
        if pool is None:
            # A lane given back to its pool between its answer and this call: it stays
            # open there, so the grant on it still ends with its lease.
            return
        self._parked[conn] = [pool, until]
        # Closed early (a crash, a restart): its grants end early. Nothing to tell anyone.
        conn.on_close = lambda error: self._unpark(conn)
        if self._parking_tick is None:
            self._parking_tick = asyncio.get_running_loop().call_later(
                self._parking_interval, self._tend_parked
            )

    def _unpark(self, conn: AsyncConnection) -> None:
        self._parked.pop(conn, None)

    def parked(self, conn: AsyncConnection) -> bool:
        return conn in self._parked and not conn.closed

    @property
    def _parking_interval(self) -> float:
        return min(1.0, self._client.settings.server_read_timeout_s * 0.2)

    def _tend_parked(self) -> None:
        self._parking_tick = None
        now = time.monotonic()
        idle_limit = self._client.settings.server_read_timeout_s * 0.4
        for conn, (pool, until) in list(self._parked.items()):
            if conn.closed:
                del self._parked[conn]
            elif now >= until and not conn.awaiting:  # never while an answer is due
                del self._parked[conn]
                conn.on_close = None
                pool.checkin(conn)
            elif now - conn.last_used > idle_limit:
                # Before v1.14 `ping` is an unknown request; its `error` keeps the line too.
                conn.send(protocol.PING, protocol.DONE, _ignore)
        if self._parked:
            self._parking_tick = asyncio.get_running_loop().call_later(
                self._parking_interval, self._tend_parked
            )

    async def aclose(self) -> None:
        if self._renewals is not None:
            self._renewals.drop_all()
        if self._parking_tick is not None:
            self._parking_tick.cancel()
            self._parking_tick = None
        for conn in list(self._parked):
            conn.close()  # the parked grants end with it
        self._parked.clear()


def _ignore(outcome: object) -> None:
    """The answer to a keepalive ping."""
