"""Which server a request goes to, and what happens when it cannot be answered there.

Shards: the key's own server, by CRC-32 of the key as sent (dflockd-client's rule).
Cluster: the leader. A follower answers `error_not_leader <address>`; the address is
followed when it names a configured member, otherwise the next member is tried, at
most three times a call (upstream's own client allows as many). A server shutting
down answers `error_draining`: another member is tried, or, for a shard, the same
server again after a pause, while the call's deadline allows. A pooled connection
found closed when used is replaced once: the server dropped everything it had.

`_async/_router.py` is the source; `_sync/_router.py` is generated from it by
`scripts/generate_sync.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._async._connection import AsyncConnection
from dflock_integrations.client._async._pool import AsyncPool
from dflock_integrations.client._async._runtime import async_sleep
from dflock_integrations.client._timing import Deadline
from dflock_integrations.errors import ServerUnavailable, refusal
from dflock_integrations.settings import ServerAddress

if TYPE_CHECKING:
    from dflock_integrations.client._async._client import AsyncDflockClient

MAX_REDIRECTS = 3
FIRST_PAUSE_S = 0.05
LONGEST_PAUSE_S = 1.0


class AsyncRouter:
    def __init__(self, client: AsyncDflockClient) -> None:
        self._client = client
        self._members = list(client.settings.servers)
        self._cluster = client.settings.topology == "cluster"
        self._leader = self._members[0]  # a guess until a member says otherwise

    def home(self, key: str) -> ServerAddress:
        """Where requests for `key` go first."""
        return self._leader if self._cluster else self._client.server_for(key)

    def any_order(self) -> list[ServerAddress]:
        """Every member, the likeliest leader first (for ping and stats in a cluster)."""
        return [self._leader, *(m for m in self._members if m != self._leader)]

    async def exchange(
        self,
        key: str,
        data: bytes,
        kind: str,
        deadline: Deadline,
        *,
        answer_within: float,
        grants: bool = False,
    ) -> tuple[AsyncConnection, AsyncPool, protocol.Answer]:
        """Send a request for `key` where it can be answered.

        Returns the connection (the caller checks it back in, or keeps it with a grant),
        its pool, and the answer, which may be a refusal for the caller to interpret.
        TimeoutError when no answer came within `answer_within` seconds. A request that
        `grants` is preceded, on a server not judged yet, by the fencing probe.
        """
        conn, pool, answers = await self.exchange_many(
            key, [data], kind, deadline, answer_within=answer_within, grants=grants
        )
        return conn, pool, answers[0]

    async def exchange_many(
        self,
        key: str,
        requests: list[bytes],
        kind: str,
        deadline: Deadline,
        *,
        answer_within: float,
        grants: bool = False,
    ) -> tuple[AsyncConnection, AsyncPool, list[protocol.Answer]]:
        """`exchange` for requests that go together on one connection (a multilock's)."""
        server = self.home(key)
        redirects = 0
        retried_stale = False
        pause = FIRST_PAUSE_S
        while True:
            pool = self._client._pool(server)
            conn = await pool.checkout(deadline)
            try:
                probe = self._client._fencing.start_probe(conn.server) if grants else None
                if probe:
                    await self._client._probe(conn, probe, deadline)
                patience = min(answer_within, max(0.001, deadline.remaining()))
                if len(requests) == 1:
                    answers = [await conn.exchange(requests[0], kind, patience)]
                else:
                    answers = await conn.exchange_many(requests, kind, patience)
            except ServerUnavailable:
                pool.discard(conn)
                self._client._metrics.server_error(str(server), "unavailable")
                if conn.reused and not retried_stale:
                    retried_stale = True
                    continue
                if self._cluster and redirects < MAX_REDIRECTS and not deadline.passed:
                    redirects += 1
                    server = self._after(server)
                    continue
                raise
            except BaseException:
                pool.discard(conn)
                raise
            answer = answers[0]  # a follower or a draining server refuses every request alike
            if not isinstance(answer, protocol.Refused):
                if self._cluster:
                    self._leader = server
                return conn, pool, answers
            if answer.status == "error_not_leader" and self._cluster:
                pool.checkin(conn)
                if redirects >= MAX_REDIRECTS:
                    self._client._metrics.server_error(str(server), "no_leader")
                    raise ServerUnavailable(
                        f"no dflockd leader found after {MAX_REDIRECTS} redirects; "
                        f"{server} answered {answer.status} {answer.leader or ''}".rstrip(),
                        server=str(server),
                    )
                redirects += 1
                server = self._follow(answer.leader, server)
                if answer.leader is None:  # an election is under way: give it a moment
                    await async_sleep(min(pause, deadline.remaining()))
                    pause = min(pause * 2, LONGEST_PAUSE_S)
                continue
            if answer.status == "error_draining":
                pool.discard(conn)  # the server closes it anyway
                self._client._metrics.server_error(str(server), "draining")
                if self._cluster and redirects < MAX_REDIRECTS:
                    redirects += 1
                    server = self._after(server)
                    continue
                if deadline.remaining() > pause:
                    await async_sleep(pause)
                    pause = min(pause * 2, LONGEST_PAUSE_S)
                    continue
                raise refusal(answer.status, key=key, server=str(server))
            return conn, pool, answers

    def _follow(self, leader: str | None, current: ServerAddress) -> ServerAddress:
        if leader is not None:
            try:
                named = ServerAddress.parse(leader)
            except ValueError:
                named = None
            if named in self._members:
                return named
        return self._after(current)

    def _after(self, server: ServerAddress) -> ServerAddress:
        index = self._members.index(server) if server in self._members else -1
        return self._members[(index + 1) % len(self._members)]
