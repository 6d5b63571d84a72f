"""`dflock_lock` and `dflock_semaphore`: FastAPI dependencies holding a key while an endpoint
runs (`dflock_multilock` and `dflock_rate_limit`, in `_limits.py`, build the same kind).

    order_lock = dflock_lock("order:{order_id}")

    @app.post("/orders/{order_id}/pay")
    async def pay(order_id: str, lease: Annotated[HeldLease, Depends(order_lock)]) -> dict: ...

The object given to `Depends` (a `LeaseDependency`) is a plain coroutine: it takes
the lease and hands its release to the exit stack FastAPI keeps for the request
(`scope["fastapi_function_astack"]`, which closes as soon as the endpoint returns or
raises, before the response goes out; with `hold_for_stream=True` the request's own
stack, which closes once the response, a streamed body included, has been sent).
That is what a yield-dependency does, without the two context managers and the cancel
scope FastAPI builds around each one: measured with bench/fastapi_bench.py, they took
about 45 µs a request, three times all the rest this dependency adds to the lock's
own round trips. The stacks are FastAPI's (present since 0.121, this package's
minimum, and not a public API); a FastAPI without them gets a RuntimeError saying so,
and the tests pin when each one closes.

A template's fields are read from the request as sent: the path parameter of that
name, else the query parameter; a missing one is the usual 422. Only fields given a
type (`types=`) are declared to FastAPI, which then converts them as it converts the
endpoint's parameters and shows them in the OpenAPI schema. Declaring every field
would have FastAPI check again what it checks for the endpoint already, at about
12 µs a field, more than the rest of this dependency.

The lease is taken and released by the HTTP layer's one hold path
(`dflock_integrations._http.hold`); a request that has to queue receives its body
meanwhile to notice its client leaving (`_queued.py`). A dflock failure becomes its
HTTP answer (423, 429, 503...) with or without exception handlers installed; see
`_answers.py`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from typing_extensions import Unpack

from dflock_integrations._http import hold
from dflock_integrations._http.hold import Hold, HoldOptions
from dflock_integrations._http.limiters import MultiLockHold, RateLimitHold
from dflock_integrations.errors import DflockError, InvalidKeyError
from dflock_integrations.fastapi._answers import refusal
from dflock_integrations.fastapi._leases import HeldLease, SkippedLease
from dflock_integrations.fastapi._queued import left, take
from dflock_integrations.keys import KeyTemplate, check_key
from dflock_integrations.options import check_option_names
from dflock_integrations.starlette import get_dflock_client as app_client
from dflock_integrations.starlette import locking_enabled

KeySource = str | Callable[[Request], str | Awaitable[str]]

# The dependency's request parameter; FastAPI finds it by its annotation, not this name.
_REQUEST = "dflock_request_"


class LeaseDependency:
    """A lock (`limit` None), a semaphore slot, or what `hold` says (a multilock mode, a
    rate-limit admission) held while an endpoint runs.

    Build it with `dflock_lock`, `dflock_semaphore`, `dflock_multilock` or
    `dflock_rate_limit`, once, at import time; use the same object everywhere it
    applies (FastAPI takes it once per request, while two objects on one key would
    make a request wait for itself).
    """

    __signature__: inspect.Signature  # what FastAPI reads instead of __call__'s

    def __init__(
        self,
        key: KeySource,
        *,
        limit: int | None = None,
        enabled: bool = True,
        hold_for_stream: bool = False,
        watch_disconnect: bool = True,
        types: Mapping[str, Any] | None = None,
        hold: Hold | None = None,
        **options: Unpack[HoldOptions],
    ) -> None:
        if hold is not None and (limit is not None or options):
            raise TypeError("LeaseDependency takes hold= or limit= and its options, not both")
        # What it holds, checked now; a template is the metrics' name for its keys.
        label = key if isinstance(key, str) else None
        self.hold = hold or Hold.checked(limit=limit, label=label, **options)
        if isinstance(key, str):
            self.template: KeyTemplate | None = KeyTemplate(key)
        elif callable(key):
            self.template = None
        else:
            raise TypeError(f"key must be a template string or a function, got {key!r}")
        self.key = key
        self.types = dict(types or {})
        fields = self.template.fields if self.template is not None else ()
        unknown = sorted(set(self.types) - set(fields))
        if unknown:
            raise ValueError(
                f"types= names {unknown}, which the key {key!r} does not use as fields"
            )
        if _REQUEST in fields:
            raise InvalidKeyError(f"key template field {{{_REQUEST}}} is a reserved name")
        # Declared to FastAPI, which converts them; the others are read as sent.
        self._typed = tuple(f for f in dict.fromkeys(fields) if f in self.types)
        self._raw = tuple(f for f in dict.fromkeys(fields) if f not in self.types)
        self.limit = limit  # None: a lock; the other options are self.hold's
        self.enabled = enabled
        self.hold_for_stream = hold_for_stream
        self.watch_disconnect = watch_disconnect
        # The exit stack the release goes on: the endpoint's, or the whole request's.
        self._stack = "fastapi_inner_astack" if hold_for_stream else "fastapi_function_astack"
        keyword = inspect.Parameter.KEYWORD_ONLY
        self.__signature__ = inspect.Signature(
            [
                inspect.Parameter(_REQUEST, keyword, annotation=Request),
                # A field's type makes FastAPI convert the value as the endpoint does,
                # so "007" and "7" for an int parameter share one key.
                *(inspect.Parameter(f, keyword, annotation=self.types[f]) for f in self._typed),
            ],
            return_annotation=HeldLease,
        )

    async def __call__(self, **values: Any) -> HeldLease:
        request: Request = values.pop(_REQUEST)
        scope = request.scope
        if self.template is not None:
            if self._raw:
                self._read_fields(request, values)
            key = self.template.render(values)
        else:
            key = await self.key_for(request, values)
        if not self.enabled or not locking_enabled(scope):
            return SkippedLease(key, self.limit)
        stack = scope.get(self._stack)
        if not isinstance(stack, AsyncExitStack):
            raise RuntimeError(
                f"FastAPI keeps no {self._stack!r} for this request, where {self!r} releases "
                "its lease; dflock_integrations.fastapi needs FastAPI >= 0.121"
            )
        try:
            client = app_client(request)
            what = self.hold.for_method(request.method)
            lease = await take(what, client, key, request, self.watch_disconnect)
        except DflockError as exc:
            raise refusal(request, exc, retry_after_s=self.hold.retry_after_s) from exc
        if lease is None:
            raise left()
        # Not shielded: a release cut short closes its connection, which frees the grant.
        stack.push_async_callback(hold.release, lease, request.method, scope["path"])
        return lease

    def __repr__(self) -> str:
        shown = self.key if isinstance(self.key, str) else getattr(self.key, "__name__", "key")
        if isinstance(self.hold, MultiLockHold):
            mode = self.hold.mode and self.hold.mode.value
            return f"dflock_multilock({shown!r}, max_shared={self.hold.max_shared}, mode={mode!r})"
        if isinstance(self.hold, RateLimitHold):
            return f"dflock_rate_limit({shown!r}, {str(self.hold.rate)!r})"
        if self.limit is None:
            return f"dflock_lock({shown!r})"
        return f"dflock_semaphore({shown!r}, limit={self.limit})"

    def _read_fields(self, request: Request, values: dict[str, Any]) -> None:
        """Add the untyped fields to `values`: from the path, else the query; else a 422."""
        path = request.path_params
        query = None
        missing = []
        for name in self._raw:
            if name in path:
                values[name] = path[name]
                continue
            if query is None:
                query = request.query_params
            value = query.get(name)
            if value is None:
                missing.append(name)
            else:
                values[name] = value
        if missing:
            raise RequestValidationError(
                [
                    {
                        "type": "missing",
                        "loc": ("query", name),
                        "msg": "Field required",
                        "input": None,
                    }
                    for name in missing
                ]
            )

    async def key_for(self, request: Request, values: Mapping[str, Any]) -> str:
        """The key for this request: the template filled in, or the key function's answer."""
        if self.template is not None:
            filled = dict(values)
            if self._raw:
                self._read_fields(request, filled)
            return self.template.render(filled)
        assert not isinstance(self.key, str)
        key = self.key(request)
        if inspect.isawaitable(key):
            key = await key
        if not isinstance(key, str):
            raise TypeError(f"key function {self.key!r} returned {key!r}, not a str")
        try:
            return check_key(key)
        except InvalidKeyError as exc:
            raise InvalidKeyError(
                f"key function {getattr(self.key, '__qualname__', self.key)!r} returned an "
                f"unusable key: {exc}. Build keys from request values with "
                "KeyTemplate(...).render(...) or dflock_integrations.keys.encode_value(), which "
                "make any value safe"
            ) from None


class DependencyOptions(HoldOptions, total=False):
    """The options of `dflock_lock` and `dflock_semaphore` (see `dflock_lock`)."""

    enabled: bool
    hold_for_stream: bool
    watch_disconnect: bool
    types: Mapping[str, Any] | None


def dflock_lock(key: KeySource, **options: Unpack[DependencyOptions]) -> LeaseDependency:
    """A dependency holding the lock on `key` while the endpoint runs; gives the lease.

    `key`: a template such as `"order:{order_id}"` (each field from the path parameter
    of that name, else the query parameter, as sent; a missing one answers 422) or a
    function of the request returning the key (sync or async). Literal text is checked now.
    `acquire_timeout_s` / `lease_ttl_s`: default to the client's settings.
    `enabled=False`: take nothing and yield a `SkippedLease`.
    `hold_for_stream=True`: release after the response is sent, streamed body included,
    rather than when the endpoint returns.
    `watch_disconnect=False`: do not read the body up front to notice a client leaving
    while queued (for endpoints streaming large uploads themselves).
    `types`: a field's type, e.g. `{"order_id": int}`, converted as FastAPI converts the
    endpoint's parameter of that name, so every spelling of one value shares one key
    (without it the key uses the text as sent: `007` and `7` differ); such a field is
    also shown in the OpenAPI schema.
    `retry_after_s`: the Retry-After of its refusals (default 1 s).
    """
    check_option_names(options, DependencyOptions, "dflock_lock")
    return LeaseDependency(key, **options)


def dflock_semaphore(
    key: KeySource, *, limit: int, **options: Unpack[DependencyOptions]
) -> LeaseDependency:
    """Like `dflock_lock`, holding one of `limit` slots of `key` (429 when none frees in time).

    Every user of a key must agree on `limit`.
    """
    if limit is None:
        raise ValueError("dflock_semaphore needs limit=, a whole number >= 1")
    check_option_names(options, DependencyOptions, "dflock_semaphore")
    return LeaseDependency(key, limit=limit, **options)
