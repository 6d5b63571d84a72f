"""Shared and exclusive holds of one key across processes (a reader/writer lock).

No released dflockd has such a command, so it is built from what every generation
has, all on one connection per hold:

- the slots: a semaphore on the key with `max_shared` slots;
- the gate: a lock on `<key>|gate`, taken in FIFO order by everyone who enters.

A shared hold takes the gate and one slot (pipelined: one round trip when free), then
gives the gate back. An exclusive hold takes the gate and every slot, and keeps the
gate until it is released. Because everyone queues at the gate in arrival order, a
waiting exclusive hold keeps later shared ones out (no writer starvation), and the
shared holds that came first finish first. Every slot and the gate are renewed
together; losing any of them loses the hold, and a crash releases all of them with
the connection.

`_async/_multilock.py` is the source; `_sync/_multilock.py` is generated from it by
`scripts/generate_sync.py`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from typing_extensions import Self

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._async._connection import AsyncConnection
from dflock_integrations.client._async._pool import AsyncPool
from dflock_integrations.client._async._runtime import async_sleep
from dflock_integrations.client._failures import no_answer
from dflock_integrations.client._modes import LockMode
from dflock_integrations.client._renewals import send_all
from dflock_integrations.client._state import LeaseState
from dflock_integrations.client._timing import ANSWER_GRACE_S, Deadline, wire_timeout
from dflock_integrations.errors import LimitMismatchError, LockTimeout, refusal

if TYPE_CHECKING:
    from dflock_integrations.client._async._client import AsyncDflockClient

GATE_SUFFIX = "|gate"


class AsyncMultiLockHandle(LeaseState):
    """One shared or exclusive hold: its tokens (gate first, when held), fence and loss."""

    kind = "multilock"

    def __init__(self, owner: AsyncMultiLock, mode: LockMode) -> None:
        super().__init__(
            owner.name,
            owner.key,
            owner.server,
            limit=owner.max_shared,
            acquire_timeout_s=owner.acquire_timeout_s,
            lease_ttl_s=owner.lease_ttl_s,
        )
        self.mode = mode
        self._parts: list[tuple[str, str, int | None]] = []  # (key, token, limit) held
        self._owner = owner
        self._metrics = owner._client._metrics
        self.metric_name = owner.metric_name
        self._conn: AsyncConnection | None = None
        self._pool: AsyncPool | None = None

    @property
    def tokens(self) -> list[str]:
        """Every token this hold has: the gate's first (exclusive), then the slots'."""
        return [token for _, token, _ in self._parts]

    def _renew_requests(self) -> list[bytes]:
        return [protocol.renew(k, t, self.lease_ttl_s, limit) for k, t, limit in self._parts]

    def _release_requests(self) -> list[bytes]:
        return [protocol.release(k, t, limit) for k, t, limit in self._parts]

    async def release(self, *, wait: bool = False) -> None:
        """Give the hold back; LockLostError if it had been lost (see AsyncLease.release)."""
        await self._owner.release(self, wait=wait)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.release()

    def __repr__(self) -> str:
        state = "lost" if self.lost else "held" if self.token else "released"
        return f"<{type(self).__name__} {self.name!r} {self.mode.value} {state}>"


class AsyncMultiLock:
    """`client.multilock(key, max_shared=N)`: shared holds (up to N at once) or one
    exclusive hold of `key`; every user of the key must agree on `max_shared`."""

    def __init__(
        self,
        client: AsyncDflockClient,
        name: str,
        key: str,
        *,
        max_shared: int,
        acquire_timeout_s: float,
        lease_ttl_s: int,
    ) -> None:
        self.name = name
        self.key = key  # the slots, as sent
        self.gate = key + GATE_SUFFIX
        self.max_shared = max_shared
        self.acquire_timeout_s = acquire_timeout_s
        self.lease_ttl_s = lease_ttl_s
        self.server = str(client._router.home(key))
        self.metric_name = ""  # set by the client when metrics are on
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} max_shared={self.max_shared}>"

    # -- taking and giving back ---------------------------------------------------------------

    async def acquire(
        self, mode: LockMode | str, timeout_s: float | None = None
    ) -> AsyncMultiLockHandle:
        """Hold the key in `mode`, waiting up to `timeout_s` in FIFO order; LockTimeout else."""
        wanted = LockMode.of(mode)
        timeout = self.acquire_timeout_s if timeout_s is None else timeout_s
        handle = await self._take(wanted, timeout)
        if handle is None:
            raise LockTimeout(
                f"multilock {self.name!r} not held {wanted.value} within {timeout:g} s",
                key=self.name,
                timeout_s=timeout,
                limit=self.max_shared,
            )
        return handle

    async def acquire_nowait(self, mode: LockMode | str) -> AsyncMultiLockHandle | None:
        """Hold the key in `mode` if that can be had right now; None otherwise."""
        return await self._take(LockMode.of(mode), 0)

    async def release(self, handle: AsyncMultiLockHandle, *, wait: bool = False) -> None:
        """Give a hold back (what `handle.release()` does)."""
        conn, pool = handle._conn, handle._pool
        handle._conn = handle._pool = None
        try:
            if conn is None or pool is None:
                if handle.lost:
                    raise handle._lost_error()
                return
            handle._check_before_release(pool, conn)
            await self._client._keeper.release(handle, conn, pool, wait=wait)
        finally:
            handle._parts = []
            handle._clear()

    def shared(self, timeout_s: float | None = None) -> AsyncMultiLockHolding:
        """`async with multilock.shared() as handle:` (or `with`, for the sync client)."""
        return AsyncMultiLockHolding(self, LockMode.SHARED, timeout_s)

    def exclusive(self, timeout_s: float | None = None) -> AsyncMultiLockHolding:
        return AsyncMultiLockHolding(self, LockMode.EXCLUSIVE, timeout_s)

    async def _take(self, mode: LockMode, timeout_s: float) -> AsyncMultiLockHandle | None:
        whole, cut = wire_timeout(timeout_s)
        slots = 1 if mode is LockMode.SHARED else self.max_shared
        requests = [protocol.acquire(self.gate, whole, self.lease_ttl_s, None)]
        requests += [protocol.acquire(self.key, whole, self.lease_ttl_s, self.max_shared)] * slots
        sent_at = time.monotonic()
        try:
            conn, pool, answers = await self._client._router.exchange_many(
                self.key,
                requests,
                protocol.GRANT,
                Deadline(timeout_s + ANSWER_GRACE_S),
                answer_within=whole + ANSWER_GRACE_S if cut is None else cut,
                grants=True,
            )
        except TimeoutError:
            if cut is not None:
                self._report(sent_at, "timeout")
                return None  # our own cut of a wait the protocol cannot express
            self._report(sent_at, "error")
            raise no_answer(self.server, timeout_s + ANSWER_GRACE_S) from None
        keys = [(self.gate, None), *[(self.key, self.max_shared)] * slots]
        parts = [
            (key, answer.token, limit)
            for (key, limit), answer in zip(keys, answers, strict=True)
            if isinstance(answer, protocol.Granted)
        ]
        if len(parts) < len(answers):
            # Not all of it: what was granted goes back, on this connection, in order.
            if parts:
                releases = [protocol.release(k, t, limit) for k, t, limit in parts]
                send_all(conn, releases, protocol.DONE, _ignore)
            pool.checkin(conn)
            refused = next((a for a in answers if isinstance(a, protocol.Refused)), None)
            self._report(sent_at, "timeout" if refused is None else "error")
            if refused is not None:
                raise self._refused(refused.status, conn.server)
            return None
        handle = AsyncMultiLockHandle(self, mode)
        handle.server = conn.server
        fencing = self._client._fencing
        if mode is LockMode.SHARED:
            gate, *held = parts  # a shared hold gives the gate back at once
            send_all(conn, [protocol.release(gate[0], gate[1], None)], protocol.DONE, _ignore)
            fence = fencing.fence(conn.server, self.key, held[0][1], exclusive=False)
        else:
            held = parts
            fence = fencing.fence(conn.server, self.gate, parts[0][1], exclusive=True)
        handle._parts = held
        lease = min(a.lease_s for a in answers if isinstance(a, protocol.Granted))
        handle._record_grant(held[0][1], lease, fence, sent_at)
        handle._conn, handle._pool = conn, pool
        self._client._keeper.hold(handle, conn, pool)
        handle._report_wait(sent_at, "granted")
        return handle

    def _report(self, started: float, outcome: str) -> None:
        metrics = self._client._metrics
        if metrics.enabled:
            waited = time.monotonic() - started
            metrics.waited("multilock", self.metric_name, self.server, waited, outcome)

    def _refused(self, status: str, server: str) -> Exception:
        if status == "error_limit_mismatch":
            return LimitMismatchError(
                f"key {self.name!r} is in use with another limit at dflockd {server}: a "
                f"multilock with another max_shared than {self.max_shared}, or (before "
                "dflockd v1.14) a plain lock or a semaphore of the same name"
            )
        return refusal(status, key=self.name, server=server)

    # -- what the server says -----------------------------------------------------------------

    async def mode(self) -> LockMode | None:
        """How the key is held right now, by anyone, as the server's stats show it."""
        slots, gate = await self._snapshot()
        if slots == self.max_shared and gate:
            return LockMode.EXCLUSIVE
        return LockMode.SHARED if slots else None

    async def notify(
        self, mode: LockMode | str, *, timeout_s: float | None = None, interval_s: float = 0.1
    ) -> bool:
        """Wait until `mode` could be had (True), or `timeout_s` passes (False).

        Polls the server's stats every `interval_s`: the answer can be that late, and the
        mode may be taken by someone else the moment after. It does not hold anything.
        """
        wanted = LockMode.of(mode)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            slots, gate = await self._snapshot()
            free = self.max_shared - slots
            if not gate and (free == self.max_shared or (wanted is LockMode.SHARED and free)):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await async_sleep(interval_s)

    async def _snapshot(self) -> tuple[int, bool]:
        """(slots held, whether the gate is held or waited for) from the key's server."""
        stats = await self._client._stats_of(self._client._router.home(self.key))
        slots = 0
        gate = False
        entries = [*(stats.get("semaphores") or ()), *(stats.get("locks") or ())]
        for entry in entries:
            if entry.get("key") == self.key:
                slots = int(entry.get("holders", 1 if entry.get("owner_conn_id") else 0))
            elif entry.get("key") == self.gate:
                gate = True
        return slots, gate


class AsyncMultiLockHolding:
    """The context manager of `shared()` and `exclusive()`."""

    def __init__(self, owner: AsyncMultiLock, mode: LockMode, timeout_s: float | None) -> None:
        self._owner = owner
        self._mode = mode
        self._timeout_s = timeout_s
        self._handle: AsyncMultiLockHandle | None = None

    async def __aenter__(self) -> AsyncMultiLockHandle:
        self._handle = await self._owner.acquire(self._mode, self._timeout_s)
        return self._handle

    async def __aexit__(self, *exc_info: object) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            await handle.release()


def _ignore(outcome: object) -> None:
    """The answer to a request nobody waits for."""
