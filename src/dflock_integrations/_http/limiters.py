"""Holds of two more kinds around a request: a multilock mode and a rate-limit admission.

`MultiLockHold` and `RateLimitHold` are `Hold`s whose `lease()` builds another kind of
handle with the hold path's methods (`AsyncHandle`, `SyncHandle`), so every entry point
takes, waits, refuses and releases them as it does a lock:

- a multilock mode (`max_shared`, `mode`): shared or exclusive, or with `mode` None
  by the HTTP method: GET, HEAD and OPTIONS share, every other method excludes. Not
  had in time, it answers 423 as a lock does: another request's hold keeps this one
  out, not a count of slots.
- a rate-limit admission (`rate`, such as "5/s"): `acquire_timeout_s` is 0 unless
  given, so a request over budget is answered 429 at once, with the limiter's
  Retry-After. An admission is never released (its period frees it): release does nothing.

`hold_for` picks the kind from an entry point's options and refuses a mix of kinds.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import Any, overload

from typing_extensions import Unpack

from dflock_integrations._http.hold import AsyncHandle, Hold, HoldOptions, SyncHandle
from dflock_integrations.client import AsyncDflockClient, LockMode, Rate, SyncDflockClient
from dflock_integrations.errors import LockTimeout, RateLimited
from dflock_integrations.options import check_option_names, whole_number

# Methods that only read: they share a multilock whose mode follows the method.
SHARED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Limiters kept per rate-limit entry point. A limiter parks its admissions on its own
# connection; a new limiter per request would open and park one connection each.
MAX_LIMITERS = 1024

_PLACEHOLDER_RATE = Rate(1, 1)


def mode_for(method: str) -> LockMode:
    return LockMode.SHARED if method.upper() in SHARED_METHODS else LockMode.EXCLUSIVE


@dataclasses.dataclass(frozen=True, slots=True)
class MultiLockHold(Hold):
    """A multilock of `max_shared` holders held in `mode` (None: by the HTTP method)."""

    max_shared: int = 1
    mode: LockMode | None = None

    def for_method(self, method: str) -> Hold:
        if self.mode is not None:
            return self
        return dataclasses.replace(self, mode=mode_for(method))

    @overload
    def lease(self, client: AsyncDflockClient, key: str) -> AsyncHandle: ...
    @overload
    def lease(self, client: SyncDflockClient, key: str) -> SyncHandle: ...
    def lease(
        self, client: AsyncDflockClient | SyncDflockClient, key: str
    ) -> AsyncHandle | SyncHandle:
        multilock = client.multilock(
            key,
            max_shared=self.max_shared,
            acquire_timeout_s=self.acquire_timeout_s,
            lease_ttl_s=self.lease_ttl_s,
            label=self.label,
        )
        # A hold not given a method (a caller that skipped for_method) excludes: safe.
        mode = self.mode or LockMode.EXCLUSIVE
        if isinstance(client, AsyncDflockClient):
            return AsyncModeHandle(multilock, mode)
        return SyncModeHandle(multilock, mode)


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimitHold(Hold):
    """An admission of `rate`; `acquire_timeout_s` is how long a request waits for one."""

    rate: Rate = _PLACEHOLDER_RATE  # always given: see rate_limit_hold
    _limiters: OrderedDict[tuple[object, str], Any] = dataclasses.field(
        default_factory=OrderedDict, init=False, repr=False, compare=False
    )
    _guard: threading.Lock = dataclasses.field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @overload
    def lease(self, client: AsyncDflockClient, key: str) -> AsyncHandle: ...
    @overload
    def lease(self, client: SyncDflockClient, key: str) -> SyncHandle: ...
    def lease(
        self, client: AsyncDflockClient | SyncDflockClient, key: str
    ) -> AsyncHandle | SyncHandle:
        limiter = self._limiter(client, key)
        if isinstance(client, AsyncDflockClient):
            return AsyncAdmission(limiter, self.acquire_timeout_s or 0.0)
        return SyncAdmission(limiter, self.acquire_timeout_s or 0.0)

    def _limiter(self, client: AsyncDflockClient | SyncDflockClient, key: str) -> Any:
        """The limiter of `key` on `client`, the same one request after request."""
        with self._guard:  # Django runs sync views on many threads
            limiter = self._limiters.get((client, key))
            if limiter is not None:
                self._limiters.move_to_end((client, key))
                return limiter
        limiter = client.rate_limiter(
            key, self.rate, acquire_timeout_s=self.acquire_timeout_s, label=self.label
        )
        with self._guard:
            limiter = self._limiters.setdefault((client, key), limiter)
            # A limiter dropped here still frees its admissions when their period ends.
            while len(self._limiters) > MAX_LIMITERS:
                self._limiters.popitem(last=False)
        return limiter


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


def multilock_hold(
    *,
    max_shared: int,
    mode: LockMode | str | None = None,
    where: str = "",
    label: str | None = None,
    **options: Unpack[HoldOptions],
) -> MultiLockHold:
    """A `MultiLockHold` whose options are checked now; errors name `where`."""
    check_option_names(options, HoldOptions, where)
    prefix = f"{where}: " if where else ""
    whole_number(max_shared, f"{prefix}max_shared")
    try:
        held_mode = None if mode is None else LockMode.of(mode)
    except ValueError as exc:
        raise ValueError(f"{prefix}{exc}; or None: shared for GET, HEAD, OPTIONS") from None
    base = Hold.checked(where=where, label=label, **options)
    return MultiLockHold(
        None,
        base.acquire_timeout_s,
        base.lease_ttl_s,
        base.retry_after_s,
        label,
        max_shared,
        held_mode,
    )


def rate_limit_hold(
    *,
    rate: str | Rate,
    where: str = "",
    label: str | None = None,
    **options: Unpack[HoldOptions],
) -> RateLimitHold:
    """A `RateLimitHold` whose options are checked now; errors name `where`.

    `acquire_timeout_s` defaults to 0 (over budget: 429 at once); there is no lease
    time to choose: an admission lasts one period of `rate`.
    """
    check_option_names(options, HoldOptions, where)
    prefix = f"{where}: " if where else ""
    if options.get("lease_ttl_s") is not None:
        raise ValueError(
            f"{prefix}lease_ttl_s does not apply to a rate limit: an admission lasts one "
            "period of its rate"
        )
    try:
        parsed = Rate.parse(rate)
    except ValueError as exc:
        raise ValueError(f"{prefix}{exc}") from None
    if options.get("acquire_timeout_s") is None:
        options["acquire_timeout_s"] = 0.0
    base = Hold.checked(where=where, label=label, **options)
    return RateLimitHold(None, base.acquire_timeout_s, None, base.retry_after_s, label, parsed)


def hold_for(
    *,
    where: str,
    limit: int | None = None,
    max_shared: int | None = None,
    mode: LockMode | str | None = None,
    rate: str | Rate | None = None,
    label: str | None = None,
    **options: Unpack[HoldOptions],
) -> Hold:
    """What an entry point's options ask to hold, checked now: a lock (no kind given), a
    semaphore (`limit`), a multilock (`max_shared`, `mode`) or a rate limit (`rate`)."""
    given = (("limit", limit), ("max_shared", max_shared), ("rate", rate))
    kinds = [name for name, value in given if value is not None]
    if len(kinds) > 1:
        raise ValueError(
            f"{where}: {' and '.join(f'{k}=' for k in kinds)} cannot be combined; expected one "
            "of limit= (a semaphore), max_shared= with an optional mode= (a shared/exclusive "
            "multilock) or rate= (a rate limit), or none of them (a lock)"
        )
    if mode is not None and max_shared is None:
        raise ValueError(
            f"{where}: mode= needs max_shared=, the number of shared holders at once "
            "(a multilock); without them the rule takes a lock"
        )
    if rate is not None:
        return rate_limit_hold(rate=rate, where=where, label=label, **options)
    if max_shared is not None:
        return multilock_hold(max_shared=max_shared, mode=mode, where=where, label=label, **options)
    return Hold.checked(limit=limit, where=where, label=label, **options)
