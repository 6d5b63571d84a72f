"""View decorators: `@dflock_lock("invoice:{pk}")`, `@dflock_semaphore("reports", limit=3)`,
`@dflock_multilock("doc:{pk}", max_shared=8)` and `@dflock_rate_limit("api:{user}", "5/s")`.

They wrap sync and async function views alike. The key template is checked when
the module is imported; its fields are filled from the URL's keyword arguments,
each value encoded so any URL gives a valid, distinct key.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from typing_extensions import Unpack

from dflock_integrations._http.hold import Hold, HoldOptions
from dflock_integrations._http.limiters import multilock_hold, rate_limit_hold
from dflock_integrations.client import LockMode, Rate
from dflock_integrations.django import _holding
from dflock_integrations.django._holding import Responder, json_response
from dflock_integrations.keys import KeyTemplate

V = TypeVar("V", bound=Callable[..., Any])

# The attribute a decorated view carries, read by the URL system check (dflock.E004).
HOLD_ATTRIBUTE = "dflock_hold"


@dataclass(frozen=True, slots=True)
class HeldView:
    """What a decorated view holds, and how it answers a refusal."""

    template: KeyTemplate
    hold: Hold
    respond: Responder


def dflock_lock(
    key: str, *, respond: Responder = json_response, **options: Unpack[HoldOptions]
) -> Callable[[V], V]:
    """Run the view while holding the lock `key`; answer 423 if it is not granted in time.

    `key` may name URL keyword arguments: `@dflock_lock("invoice:{pk}")`. Options:
    `acquire_timeout_s` and `lease_ttl_s` (default: `DFLOCK["ACQUIRE_TIMEOUT_S"]` and
    `DFLOCK["LEASE_TTL_S"]`), `retry_after_s` (the refusal's Retry-After, default 1 s);
    `respond(request, answer)` builds the refusal's response (JSON by default).
    """
    hold = Hold.checked(where="@dflock_lock", label=key, **options)
    return _decorator(HeldView(KeyTemplate(key), hold, respond))


def dflock_semaphore(
    key: str, *, limit: int, respond: Responder = json_response, **options: Unpack[HoldOptions]
) -> Callable[[V], V]:
    """Run the view in one of `limit` slots of `key`; answer 429 if none frees up in time.

    Every user of a key must agree on `limit`. The options are `dflock_lock`'s.
    """
    hold = Hold.checked(limit=limit, where="@dflock_semaphore", label=key, **options)
    return _decorator(HeldView(KeyTemplate(key), hold, respond))


def dflock_multilock(
    key: str,
    *,
    max_shared: int,
    mode: LockMode | str | None = None,
    respond: Responder = json_response,
    **options: Unpack[HoldOptions],
) -> Callable[[V], V]:
    """Run the view holding `key` shared (up to `max_shared` at once) or exclusive; 423
    if that mode is not had in time.

    `mode`: `LockMode.SHARED`, `LockMode.EXCLUSIVE`, or None: GET, HEAD and OPTIONS
    share, other methods exclude. Every user of a key must agree on `max_shared`. The
    options are `dflock_lock`'s.
    """
    hold = multilock_hold(
        max_shared=max_shared, mode=mode, where="@dflock_multilock", label=key, **options
    )
    return _decorator(HeldView(KeyTemplate(key), hold, respond))


def dflock_rate_limit(
    key: str,
    rate: str | Rate,
    *,
    respond: Responder = json_response,
    **options: Unpack[HoldOptions],
) -> Callable[[V], V]:
    """Run the view only within `rate` (`"5/s"`, `"100/m"`) for `key`, across every
    process; over budget, answer 429 with Retry-After.

    `acquire_timeout_s`: how long a request over budget waits its turn (default 0:
    answer at once); `retry_after_s` and `respond` as for `dflock_lock`. An admission
    is never given back: its period frees it.
    """
    hold = rate_limit_hold(rate=rate, where="@dflock_rate_limit", label=key, **options)
    return _decorator(HeldView(KeyTemplate(key), hold, respond))


def _decorator(held: HeldView) -> Callable[[V], V]:
    template, hold, respond = held.template, held.hold, held.respond

    def decorate(view: V) -> V:
        wrapper: Callable[..., Any]
        if iscoroutinefunction(view):
            async_view = cast(Callable[..., Awaitable[HttpResponseBase]], view)

            async def async_wrapper(
                request: HttpRequest, *args: Any, **kwargs: Any
            ) -> HttpResponseBase:
                key = template.render(kwargs)
                call = functools.partial(async_view, request, *args, **kwargs)
                return await _holding.arun(hold, request, key, call, respond)

            wrapper = async_wrapper
        else:
            sync_view = cast(Callable[..., HttpResponseBase], view)

            def sync_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
                key = template.render(kwargs)
                call = functools.partial(sync_view, request, *args, **kwargs)
                return _holding.run(hold, request, key, call, respond)

            wrapper = sync_wrapper
        functools.update_wrapper(wrapper, view)
        setattr(wrapper, HOLD_ATTRIBUTE, held)
        return cast(V, wrapper)

    return decorate
