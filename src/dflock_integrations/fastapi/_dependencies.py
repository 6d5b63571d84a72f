"""`dflock_lock` and `dflock_semaphore`: FastAPI dependencies holding a key while an endpoint runs.

    order_lock = dflock_lock("order:{order_id}")

    @app.post("/orders/{order_id}/pay")
    async def pay(order_id: str, lease: Annotated[HeldLease, Depends(order_lock)]) -> dict: ...

Two dependencies do the work. The object given to `Depends` (a `LeaseDependency`) is
a plain coroutine whose one parameter is a hidden yield-dependency, the holder,
declared with `scope="function"`: FastAPI then leaves the holder, releasing the
lease, as soon as the endpoint returns or raises and before the response goes out,
whatever scope the outer one was given. With `hold_for_stream=True` the holder's
scope is "request", so the lease is held until the response, a streamed body
included, has been sent.

The holder's signature is built from the key template: each field becomes a
parameter, so FastAPI fills it from the path when the route has a path parameter of
that name and from the query string otherwise, answers 422 naming a missing one,
and shows it in the OpenAPI schema.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio
from fastapi.params import Depends
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from dflock_integrations.client import AsyncDflockClient, AsyncLease
from dflock_integrations.errors import InvalidKeyError
from dflock_integrations.keys import KeyTemplate, check_key
from dflock_integrations.options import check_lease_options
from dflock_integrations.starlette._state import client_in, locking_enabled
from dflock_integrations.starlette._waiting import (
    CLIENT_CLOSED_REQUEST,
    release,
    wait_unless_gone,
)

KeySource = str | Callable[[Request], str | Awaitable[str]]

# The holder's request parameter; FastAPI finds it by its annotation, not this name.
_REQUEST = "dflock_request_"


class HeldLease(Protocol):
    """What a lock or semaphore dependency gives the endpoint (an `AsyncLease`, or a
    `SkippedLease` while locking is off). Pass `fence` to storage that checks it."""

    @property
    def name(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def limit(self) -> int | None: ...
    @property
    def token(self) -> str | None: ...
    @property
    def fence(self) -> int | None: ...
    @property
    def held(self) -> bool: ...
    @property
    def lost(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class SkippedLease:
    """Given instead of a lease while locking is switched off: nothing is held."""

    name: str
    limit: int | None = None
    token: None = None
    fence: None = None
    held: bool = False
    lost: bool = False

    @property
    def key(self) -> str:
        return self.name


class LeaseDependency:
    """A lock (`limit` None) or a semaphore slot held while an endpoint runs.

    Build it with `dflock_lock` or `dflock_semaphore`, once, at import time; use the
    same object everywhere it applies (FastAPI takes it once per request, while two
    objects on one key would make a request wait for itself).
    """

    __signature__: inspect.Signature  # what FastAPI reads instead of __call__'s

    def __init__(
        self,
        key: KeySource,
        *,
        limit: int | None,
        acquire_timeout_s: float | None,
        lease_ttl_s: int | None,
        enabled: bool,
        hold_for_stream: bool,
        watch_disconnect: bool,
        types: Mapping[str, Any] | None = None,
    ) -> None:
        check_lease_options(
            limit=limit, acquire_timeout_s=acquire_timeout_s, lease_ttl_s=lease_ttl_s
        )
        if isinstance(key, str):
            self.template: KeyTemplate | None = KeyTemplate(key)
        elif callable(key):
            self.template = None
        else:
            raise TypeError(f"key must be a template string or a function, got {key!r}")
        self.key = key
        self.types = dict(types or {})
        fields = set(self.template.fields) if self.template is not None else set()
        unknown = sorted(set(self.types) - fields)
        if unknown:
            raise ValueError(
                f"types= names {unknown}, which the key {key!r} does not use as fields"
            )
        self.limit = limit
        self.acquire_timeout_s = acquire_timeout_s
        self.lease_ttl_s = lease_ttl_s
        self.enabled = enabled
        self.hold_for_stream = hold_for_stream
        self.watch_disconnect = watch_disconnect
        scope: Literal["function", "request"] = "request" if hold_for_stream else "function"
        holder = Depends(dependency=_Holder(self), scope=scope)
        self.__signature__ = inspect.Signature(
            [inspect.Parameter("lease", inspect.Parameter.KEYWORD_ONLY, default=holder)],
            return_annotation=HeldLease,
        )

    async def __call__(self, lease: HeldLease) -> HeldLease:
        return lease

    def __repr__(self) -> str:
        shown = self.key if isinstance(self.key, str) else getattr(self.key, "__name__", "key")
        if self.limit is None:
            return f"dflock_lock({shown!r})"
        return f"dflock_semaphore({shown!r}, limit={self.limit})"

    async def key_for(self, request: Request, values: Mapping[str, Any]) -> str:
        """The key for this request: the template filled in, or the key function's answer."""
        if self.template is not None:
            return self.template.render(values)
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

    def handle(self, client: AsyncDflockClient, key: str) -> AsyncLease:
        return client.lease(
            key,
            limit=self.limit,
            acquire_timeout_s=self.acquire_timeout_s,
            lease_ttl_s=self.lease_ttl_s,
        )


class _Holder:
    """The yield-dependency that takes, yields and releases the lease."""

    __signature__: inspect.Signature

    def __init__(self, dependency: LeaseDependency) -> None:
        self.dependency = dependency
        fields = dependency.template.fields if dependency.template is not None else ()
        if _REQUEST in fields:
            raise InvalidKeyError(f"key template field {{{_REQUEST}}} is a reserved name")
        keyword = inspect.Parameter.KEYWORD_ONLY
        self.__signature__ = inspect.Signature(
            [
                inspect.Parameter(_REQUEST, keyword, annotation=Request),
                # A field's type, when given, makes FastAPI convert the value as the
                # endpoint does, so "007" and "7" for an int parameter share one key.
                # Any: a path converter may give an int or a UUID rather than a str.
                *(
                    inspect.Parameter(f, keyword, annotation=dependency.types.get(f, Any))
                    for f in dict.fromkeys(fields)
                ),
            ]
        )

    async def __call__(self, **values: Any) -> AsyncIterator[HeldLease]:
        request: Request = values.pop(_REQUEST)
        dependency = self.dependency
        key = await dependency.key_for(request, values)
        if not dependency.enabled or not locking_enabled(request.scope):
            yield SkippedLease(key, dependency.limit)
            return
        handle = dependency.handle(client_in(request.scope), key)
        if not (await handle.enqueue() or await self._wait(handle, request)):
            raise _left()
        try:
            yield handle
        finally:
            await release(handle, request.method, request.scope["path"])

    async def _wait(self, handle: AsyncLease, request: Request) -> bool:
        """Queued: wait for the grant; False if the client leaves first (its place given up)."""
        if not self.dependency.watch_disconnect:
            return await wait_unless_gone(handle, asyncio.get_running_loop().create_future)
        # The body is received while waiting, kept for the endpoint, so that only a
        # disconnect can follow. A grant does not cut the read short (that would lose
        # what was received); the read finishes under the lease, which is renewed.
        body = asyncio.ensure_future(_read_body(request))

        async def client_gone() -> None:
            await asyncio.shield(body)
            await _disconnected(request)

        try:
            granted = await wait_unless_gone(handle, client_gone)
            if granted:
                await body
            return granted
        except BaseException:
            body.cancel()
            with anyio.CancelScope(shield=True):
                await handle.release()  # held or queued: either way, given up
            raise


async def _read_body(request: Request) -> None:
    """Receive the body, kept for the endpoint (`request.body()` caches it).

    FastAPI has usually read it already (body parameters), and a GET has an empty one.
    """
    try:
        await request.body()
    except ClientDisconnect:
        raise _left() from None
    except RuntimeError as exc:
        if "consumed" not in str(exc):
            raise
        # "Stream consumed": FastAPI parsed a form; nothing but the disconnect is left.


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _left() -> HTTPException:
    return HTTPException(CLIENT_CLOSED_REQUEST, "the client closed the request")


def dflock_lock(
    key: KeySource,
    *,
    acquire_timeout_s: float | None = None,
    lease_ttl_s: int | None = None,
    enabled: bool = True,
    hold_for_stream: bool = False,
    watch_disconnect: bool = True,
    types: Mapping[str, Any] | None = None,
) -> LeaseDependency:
    """A dependency holding the lock on `key` while the endpoint runs; yields the lease.

    `key`: a template such as `"order:{order_id}"` (each field from the path parameter
    of that name, else the query parameter; a missing one answers 422) or a function
    of the request returning the key (sync or async). Literal text is checked now.
    `acquire_timeout_s` / `lease_ttl_s`: default to the client's settings.
    `enabled=False`: take nothing and yield a `SkippedLease`.
    `hold_for_stream=True`: release after the response is sent, streamed body included,
    rather than when the endpoint returns.
    `watch_disconnect=False`: do not read the body up front to notice a client leaving
    while queued (for endpoints streaming large uploads themselves).
    `types`: a field's type, e.g. `{"order_id": int}`, converted as FastAPI converts the
    endpoint's parameter of that name, so every spelling of one value shares one key
    (without it the key uses the text as sent: `007` and `7` differ).
    """
    return LeaseDependency(
        key,
        limit=None,
        acquire_timeout_s=acquire_timeout_s,
        lease_ttl_s=lease_ttl_s,
        enabled=enabled,
        hold_for_stream=hold_for_stream,
        watch_disconnect=watch_disconnect,
        types=types,
    )


def dflock_semaphore(
    key: KeySource,
    *,
    limit: int,
    acquire_timeout_s: float | None = None,
    lease_ttl_s: int | None = None,
    enabled: bool = True,
    hold_for_stream: bool = False,
    watch_disconnect: bool = True,
    types: Mapping[str, Any] | None = None,
) -> LeaseDependency:
    """Like `dflock_lock`, holding one of `limit` slots of `key` (429 when none frees in time).

    Every user of a key must agree on `limit`.
    """
    if limit is None:
        raise ValueError("dflock_semaphore needs limit=, a whole number >= 1")
    return LeaseDependency(
        key,
        limit=limit,
        acquire_timeout_s=acquire_timeout_s,
        lease_ttl_s=lease_ttl_s,
        enabled=enabled,
        hold_for_stream=hold_for_stream,
        watch_disconnect=watch_disconnect,
        types=types,
    )
