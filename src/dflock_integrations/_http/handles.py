"""The handles of the holds in `limiters.py`: a multilock mode and a rate-limit admission,
each offering the hold path's methods (`AsyncHandle`, `SyncHandle` in `hold.py`).

The multilock queues only inside a wait, so `enqueue` tries at once (`acquire_nowait`)
and `wait` queues in FIFO order; a request whose client leaves meanwhile cancels that
wait, which closes its connection and withdraws it. An admission's `enqueue` is
`try_acquire`, and over budget with no time to wait it raises `RateLimited` at once.
"""

from __future__ import annotations

from typing import Any

from dflock_integrations.client import LockMode
from dflock_integrations.errors import LockTimeout, RateLimited


class _ModeHandleBase:
    """What the async and sync multilock adapters share: everything without I/O."""

    def __init__(self, multilock: Any, mode: LockMode) -> None:
        self._multilock = multilock
        self._held: Any = None  # the multilock's handle while held
        self.mode = mode
        self.name: str = multilock.name
        self.key: str = multilock.key
        self.limit: int | None = multilock.max_shared
        self.acquire_timeout_s: float = multilock.acquire_timeout_s

    @property
    def token(self) -> str | None:
        return None if self._held is None else self._held.token

    @property
    def fence(self) -> int | None:
        return None if self._held is None else self._held.fence

    @property
    def held(self) -> bool:
        return self._held is not None and bool(self._held.held)

    @property
    def lost(self) -> bool:
        return self._held is not None and bool(self._held.lost)

    def timeout_error(self, timeout_s: float) -> LockTimeout:
        # No limit: a multilock kept out answers 423, as a lock does, not 429.
        return LockTimeout(
            f"multilock {self.name!r} not held {self.mode.value} within {timeout_s:g} s",
            key=self.name,
            timeout_s=timeout_s,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.mode.value} held={self.held}>"


class AsyncModeHandle(_ModeHandleBase):
    """A multilock mode as the hold path's `AsyncHandle`."""

    async def acquire(self, timeout_s: float | None = None) -> bool:
        try:
            self._held = await self._multilock.acquire(self.mode, timeout_s)
        except LockTimeout:
            return False
        return True

    async def enqueue(self) -> bool:
        # The multilock queues only inside a wait: try now, else `wait` queues.
        self._held = await self._multilock.acquire_nowait(self.mode)
        return self._held is not None

    async def wait(self, timeout_s: float | None = None) -> bool:
        return await self.acquire(timeout_s)

    async def release(self, *, wait: bool = False) -> None:
        held, self._held = self._held, None
        if held is not None:
            await held.release(wait=wait)


class SyncModeHandle(_ModeHandleBase):
    """A multilock mode as the hold path's `SyncHandle`."""

    def acquire(self, timeout_s: float | None = None) -> bool:
        try:
            self._held = self._multilock.acquire(self.mode, timeout_s)
        except LockTimeout:
            return False
        return True

    def release(self, *, wait: bool = False) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.release(wait=wait)


class _AdmissionBase:
    """What the async and sync admissions share: everything without I/O."""

    token = None
    fence = None
    lost = False

    def __init__(self, limiter: Any, acquire_timeout_s: float) -> None:
        self._limiter = limiter
        self.name: str = limiter.name
        self.key: str = limiter.key
        self.limit: int | None = limiter.rate.count
        self.acquire_timeout_s = acquire_timeout_s
        self.held = False

    def timeout_error(self, timeout_s: float) -> LockTimeout:
        rate = self._limiter.rate
        return RateLimited(
            f"rate limit {self.name!r} ({rate.count} per {rate.period_s} s) reached",
            key=self.name,
            timeout_s=timeout_s,
            retry_after_s=self._limiter.retry_after_s,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self._limiter.rate} held={self.held}>"


class AsyncAdmission(_AdmissionBase):
    """A rate-limit admission as the hold path's `AsyncHandle`."""

    async def acquire(self, timeout_s: float | None = None) -> bool:
        await self._limiter.acquire(self.acquire_timeout_s if timeout_s is None else timeout_s)
        self.held = True
        return True

    async def enqueue(self) -> bool:
        if await self._limiter.try_acquire():
            self.held = True
            return True
        if self.acquire_timeout_s == 0:
            raise self.timeout_error(0)  # over budget, and told not to wait
        return False

    async def wait(self, timeout_s: float | None = None) -> bool:
        return await self.acquire(timeout_s)

    async def release(self, *, wait: bool = False) -> None:
        self.held = False  # the admission's period frees it, never a release


class SyncAdmission(_AdmissionBase):
    """A rate-limit admission as the hold path's `SyncHandle`."""

    def acquire(self, timeout_s: float | None = None) -> bool:
        self._limiter.acquire(self.acquire_timeout_s if timeout_s is None else timeout_s)
        self.held = True
        return True

    def release(self, *, wait: bool = False) -> None:
        self.held = False  # the admission's period frees it, never a release
