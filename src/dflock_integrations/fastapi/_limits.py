"""`dflock_multilock` and `dflock_rate_limit`: a `LeaseDependency` holding a multilock mode
or a rate-limit admission, built from `_http/limiters.py`'s holds.

    document = dflock_multilock("doc:{name}", max_shared=16)  # GET shares, PUT alone
    api_budget = dflock_rate_limit("api:{user}", "5/s")  # 429 + Retry-After over budget

The key is filled, the hold taken and released, and a refusal answered (423, 429) as
for `dflock_lock`, with no exception handler and no lifespan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from typing_extensions import Unpack

from dflock_integrations._http.hold import HoldOptions
from dflock_integrations._http.limiters import multilock_hold, rate_limit_hold
from dflock_integrations.client import LockMode, Rate
from dflock_integrations.fastapi._dependencies import (
    DependencyOptions,
    KeySource,
    LeaseDependency,
)
from dflock_integrations.options import check_option_names


def dflock_multilock(
    key: KeySource,
    *,
    max_shared: int,
    mode: LockMode | str | None = None,
    **options: Unpack[DependencyOptions],
) -> LeaseDependency:
    """Like `dflock_lock`, holding `key` shared (up to `max_shared` at once) or exclusive.

    `mode`: `LockMode.SHARED`, `LockMode.EXCLUSIVE`, or None: GET, HEAD and OPTIONS
    share, every other method excludes. Not had in time: 423 with Retry-After. Every
    user of a key must agree on `max_shared`. The options are `dflock_lock`'s.
    """
    check_option_names(options, DependencyOptions, "dflock_multilock")
    held, rest = _split(options)
    label = key if isinstance(key, str) else None
    hold = multilock_hold(
        max_shared=max_shared, mode=mode, where="dflock_multilock", label=label, **held
    )
    return LeaseDependency(key, hold=hold, **rest)


def dflock_rate_limit(
    key: KeySource,
    rate: str | Rate,
    **options: Unpack[DependencyOptions],
) -> LeaseDependency:
    """A dependency admitting at most `rate` requests (`"5/s"`, `"100/m"`) per key, across
    every process; over budget it answers 429 with Retry-After, no handler needed.

    `acquire_timeout_s`: how long a request over budget waits for an admission, in
    FIFO order (default 0: answer at once). An admission is never given back; its
    period frees it. The key and the other options are `dflock_lock`'s, except
    `lease_ttl_s`, which a rate limit has no use for.
    """
    check_option_names(options, DependencyOptions, "dflock_rate_limit")
    held, rest = _split(options)
    label = key if isinstance(key, str) else None
    # acquire_timeout_s defaults to 0 here: over budget is answered at once.
    hold = rate_limit_hold(rate=rate, where="dflock_rate_limit", label=label, **held)
    return LeaseDependency(key, hold=hold, **rest)


def _split(options: Mapping[str, Any]) -> tuple[HoldOptions, dict[str, Any]]:
    """(what to hold, how the dependency runs): a hold checks its options when built."""
    held = {k: v for k, v in options.items() if k in HoldOptions.__optional_keys__}
    rest = {k: v for k, v in options.items() if k not in held}
    return cast(HoldOptions, held), rest
