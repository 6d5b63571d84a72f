"""`AsyncKeeper`: the async client's held leases, renewed on the application's loop."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

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

    async def aclose(self) -> None:
        if self._renewals is not None:
            self._renewals.drop_all()
