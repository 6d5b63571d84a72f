"""Locks and semaphores: FIFO queues, leases, tokens, expiry and GC.

A lock is a semaphore of limit 1. Up to v1.13 locks and semaphores share one key
space, so `l k` on a semaphore of limit 3 is refused (`error_limit_mismatch`); from
v1.14 each has its own. Leases end the way dflockd ends them: a periodic sweep, an
acquire on the same key evicting expired holders first, and a renewal refusing a
lease past its end. A release is not checked against the clock, so releasing a
lease that ran out but was not swept yet still answers `ok`, as upstream does.
"""

from __future__ import annotations

import asyncio
import heapq
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


class Refusal(Exception):
    """A request the server answers with a status word instead of a grant."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class Owner:
    """What a connection holds and has queued, so closing it can give everything back."""

    __slots__ = ("enqueued", "holds", "id", "queued")

    def __init__(self, owner_id: int) -> None:
        self.id = owner_id
        self.holds: dict[tuple[str, str], set[str]] = {}
        self.enqueued: dict[tuple[str, str], Waiter] = {}  # two-phase state, by key
        # Every waiter still in a queue, blocking or two-phase: a close must withdraw
        # them at once, before a release elsewhere can grant to a dead connection.
        self.queued: dict[Waiter, KeyState] = {}


@dataclass(eq=False)
class Waiter:
    owner: Owner
    ttl: int
    future: asyncio.Future[tuple[str, int]] | None = None  # set while a request blocks
    grant: tuple[str, int] | None = None  # (token, ttl) once granted
    gone: bool = False  # withdrawn; skipped when its turn comes


@dataclass(eq=False)
class Holder:
    owner: Owner
    ttl: int
    expires: float


@dataclass(eq=False)
class KeyState:
    space: str  # "" when locks and semaphores share keys, else "lock" or "semaphore"
    key: str
    limit: int
    holders: dict[str, Holder] = field(default_factory=dict)
    waiters: deque[Waiter] = field(default_factory=deque)
    waiting: int = 0  # live waiters; withdrawn ones stay in the deque until reached
    idle_since: float = 0.0

    @property
    def idle(self) -> bool:
        return not self.holders and self.waiting == 0

    @property
    def ident(self) -> tuple[str, str]:
        return self.space, self.key

    @property
    def listed_as_lock(self) -> bool:
        return self.space == "lock" or (not self.space and self.limit == 1)


class RandomTokens:
    """32 random hex digits per grant, as dflockd before v2.1 issues them."""

    def token(self) -> str:
        return secrets.token_hex(16)


class FenceTokens:
    """Tokens whose first 16 hex digits count grants across all keys (dflockd v2.1).

    Seeded from the wall clock in nanoseconds, so they keep rising across restarts
    on a clock that does not go back.
    """

    def __init__(self, start: int | None = None) -> None:
        self._last = time.time_ns() if start is None else start

    def token(self) -> str:
        self._last += 1
        return f"{self._last:016x}{secrets.token_hex(8)}"


class Keyspace:
    def __init__(
        self,
        *,
        max_locks: int,
        max_waiters: int,
        tokens: RandomTokens | FenceTokens,
        separate_spaces: bool,
    ) -> None:
        self.keys: dict[tuple[str, str], KeyState] = {}
        self._max_locks = max_locks
        self._max_waiters = max_waiters
        self._tokens = tokens
        self._separate = separate_spaces
        self._expiry: list[tuple[float, tuple[str, str], str]] = []

    def space(self, semaphore: bool) -> str:
        if not self._separate:
            return ""
        return "semaphore" if semaphore else "lock"

    def find(self, space: str, key: str) -> KeyState | None:
        return self.keys.get((space, key))

    def state(self, space: str, key: str, limit: int) -> KeyState:
        ks = self.keys.get((space, key))
        if ks is None:
            if self._max_locks and len(self.keys) >= self._max_locks:
                raise Refusal("error_max_locks")
            ks = self.keys[(space, key)] = KeyState(space, key, limit, idle_since=time.monotonic())
        elif ks.limit != limit:
            raise Refusal("error_limit_mismatch")
        return ks

    def try_grant(self, ks: KeyState, owner: Owner, ttl: int) -> tuple[str, int] | None:
        """A grant at once if a slot is free and nobody is ahead in the queue."""
        self.evict_expired(ks)
        if len(ks.holders) < ks.limit and ks.waiting == 0:
            return self._grant(ks, owner, ttl)
        return None

    def queue(self, ks: KeyState, waiter: Waiter) -> None:
        if self._max_waiters and ks.waiting >= self._max_waiters:
            raise Refusal("error_max_waiters")
        ks.waiters.append(waiter)
        ks.waiting += 1
        waiter.owner.queued[waiter] = ks

    def withdraw(self, ks: KeyState, waiter: Waiter) -> None:
        if not waiter.gone and waiter.grant is None:
            waiter.gone = True
            ks.waiting -= 1
            waiter.owner.queued.pop(waiter, None)
            self._touch(ks)

    def release(self, ks: KeyState, token: str) -> bool:
        holder = ks.holders.pop(token, None)
        if holder is None:
            return False
        tokens = holder.owner.holds.get(ks.ident)
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del holder.owner.holds[ks.ident]
        # A two-phase grant ends here too: `w` then answers error_not_enqueued. (Before
        # the sweep reaches an expired one, `w` finds it and answers error_lease_expired.)
        enqueued = holder.owner.enqueued.get(ks.ident)
        if enqueued is not None and enqueued.grant is not None and enqueued.grant[0] == token:
            del holder.owner.enqueued[ks.ident]
        self._touch(ks)
        self._pump(ks)
        return True

    def renew(self, ks: KeyState, token: str, ttl: int) -> int | None:
        """The renewed TTL, or None if the lease is unknown or already ran out (then evicted)."""
        holder = ks.holders.get(token)
        now = time.monotonic()
        if holder is None:
            return None
        if holder.expires <= now:
            self.release(ks, token)
            return None
        holder.ttl = ttl
        self.reset_lease(ks, token, holder, now)
        return ttl

    def reset_lease(self, ks: KeyState, token: str, holder: Holder, now: float) -> None:
        holder.expires = now + holder.ttl
        heapq.heappush(self._expiry, (holder.expires, ks.ident, token))

    def evict_expired(self, ks: KeyState) -> None:
        now = time.monotonic()
        for token in [t for t, h in ks.holders.items() if h.expires <= now]:
            self.release(ks, token)

    def expire_due(self) -> None:
        """The periodic sweep: hand expired leases to the next waiters."""
        now = time.monotonic()
        while self._expiry and self._expiry[0][0] <= now:
            _, ident, token = heapq.heappop(self._expiry)
            ks = self.keys.get(ident)
            holder = ks.holders.get(token) if ks else None
            if ks is not None and holder is not None and holder.expires <= now:
                self.release(ks, token)

    def collect_idle(self, max_idle_s: float) -> None:
        now = time.monotonic()
        stale = [i for i, ks in self.keys.items() if ks.idle and now - ks.idle_since > max_idle_s]
        for ident in stale:
            del self.keys[ident]

    def drop_owner(self, owner: Owner) -> None:
        """A connection closed: release what it held, withdraw what it queued."""
        for waiter, queue in list(owner.queued.items()):
            self.withdraw(queue, waiter)
        owner.enqueued.clear()
        for ident, tokens in list(owner.holds.items()):
            held = self.keys.get(ident)
            if held is not None:
                for token in list(tokens):
                    self.release(held, token)
        owner.holds.clear()

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        now = time.monotonic()
        locks: list[dict[str, Any]] = []
        semaphores: list[dict[str, Any]] = []
        idle_locks: list[dict[str, Any]] = []
        idle_semaphores: list[dict[str, Any]] = []
        for ks in self.keys.values():
            if ks.idle:
                entry = {"key": ks.key, "idle_s": now - ks.idle_since}
                (idle_locks if ks.listed_as_lock else idle_semaphores).append(entry)
            elif ks.listed_as_lock:
                holder = next(iter(ks.holders.values()), None)
                locks.append(
                    {
                        "key": ks.key,
                        "owner_conn_id": holder.owner.id if holder else 0,
                        "lease_expires_in_s": max(0.0, holder.expires - now) if holder else 0,
                        "waiters": ks.waiting,
                    }
                )
            else:
                semaphores.append(
                    {
                        "key": ks.key,
                        "limit": ks.limit,
                        "holders": len(ks.holders),
                        "waiters": ks.waiting,
                    }
                )
        return {
            "locks": locks,
            "semaphores": semaphores,
            "idle_locks": idle_locks,
            "idle_semaphores": idle_semaphores,
        }

    def _grant(self, ks: KeyState, owner: Owner, ttl: int) -> tuple[str, int]:
        token = self._tokens.token()
        holder = Holder(owner, ttl, 0.0)
        ks.holders[token] = holder
        owner.holds.setdefault(ks.ident, set()).add(token)
        self.reset_lease(ks, token, holder, time.monotonic())
        return token, ttl

    def _pump(self, ks: KeyState) -> None:
        while len(ks.holders) < ks.limit and ks.waiters:
            waiter = ks.waiters.popleft()
            if waiter.gone:
                continue
            ks.waiting -= 1
            waiter.owner.queued.pop(waiter, None)
            # Recorded on the waiter too, so a close or timeout racing this grant sees it.
            waiter.grant = self._grant(ks, waiter.owner, waiter.ttl)
            if waiter.future is not None and not waiter.future.done():
                waiter.future.set_result(waiter.grant)

    def _touch(self, ks: KeyState) -> None:
        if ks.idle:
            ks.idle_since = time.monotonic()
