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

`hold_for` picks the kind from an entry point's options and refuses a mix of kinds;
the handles themselves are in `handles.py`.
"""

from __future__ import annotations

import dataclasses

from typing_extensions import Unpack

from dflock_integrations._http.handles import (
    AsyncAdmission,
    AsyncModeHandle,
    SyncAdmission,
    SyncModeHandle,
)
from dflock_integrations._http.hold import AsyncHandle, Hold, HoldOptions, SyncHandle
from dflock_integrations.client import AsyncDflockClient, LockMode, Rate, SyncDflockClient
from dflock_integrations.options import check_option_names, whole_number

# Methods that only read: they share a multilock whose mode follows the method.
SHARED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

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

    def _handle(
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

    def _handle(
        self, client: AsyncDflockClient | SyncDflockClient, key: str
    ) -> AsyncHandle | SyncHandle:
        # The client gives the same limiter request after request: a new one would open
        # and park a connection for every request.
        limiter = client.rate_limiter(
            key, self.rate, acquire_timeout_s=self.acquire_timeout_s, label=self.label
        )
        if isinstance(client, AsyncDflockClient):
            return AsyncAdmission(limiter, self.acquire_timeout_s or 0.0)
        return SyncAdmission(limiter, self.acquire_timeout_s or 0.0)


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
