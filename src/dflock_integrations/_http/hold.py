"""Hold a lock or semaphore slot around one HTTP request: the one path every HTTP adapter takes.

1. take: join the key's queue (`enqueue`, one round trip). Granted at once, which is
   the uncontended case, nothing else happens.
2. wait: only a request that queued waits, racing the grant against the client
   leaving. A client that goes first gives up its place: the wait is cancelled, which
   closes its connection and so withdraws the waiter on the server, and a grant that
   raced in is released. Without a way to watch the client (Django) it is one
   blocking `acquire`.
3. give up: a refusal (`LockTimeout`, an unreachable server...) becomes its answer
   (`Hold.refuse`, see `answers.py`); anything else raises.
4. release, after the response: waiting for the server's answer, so the client's
   next request, which may come the moment this response arrives, never finds the
   key still held.
5. a lease lost meanwhile is logged on `dflock_integrations.http`; the response stands.

The Starlette middleware, the FastAPI dependencies and the Django decorators, mixin and
middleware are thin callers: they read the key their own way and answer their own way.
`Hold.take` builds the handle (`Hold.lease`) and holds it (`acquire`); a handle of
another kind (a multilock mode, a rate-limit permit) offering the same methods
(`AsyncHandle`, `SyncHandle`) goes through `acquire`/`release` unchanged: a class
like `Hold` whose `lease()` builds it is all an entry point of that kind needs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar, overload

import anyio
from typing_extensions import Unpack

from dflock_integrations._http.answers import HttpAnswer, refuse
from dflock_integrations.client import AsyncDflockClient, AsyncLease, SyncDflockClient, SyncLease
from dflock_integrations.errors import LockLostError, LockTimeout, describe
from dflock_integrations.options import (
    LeaseOptions,
    check_lease_options,
    check_option_names,
    seconds,
)

log = logging.getLogger("dflock_integrations.http")

ClientGone = Callable[[], Awaitable[object]]


class HeldLease(Protocol):
    """What the app is given of a hold (`request.state.dflock_lease`, a FastAPI
    dependency's value): an `AsyncLease`, a multilock mode, a rate-limit admission, or
    a `SkippedLease` while locking is off. Pass `fence` to storage that checks it."""

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


class AsyncHandle(HeldLease, Protocol):
    """What the hold path needs of an async handle (`AsyncLease` has it)."""

    @property
    def acquire_timeout_s(self) -> float: ...
    async def acquire(self, timeout_s: float | None = None) -> bool: ...
    async def enqueue(self) -> bool: ...
    async def wait(self, timeout_s: float | None = None) -> bool: ...
    async def release(self, *, wait: bool = False) -> None: ...
    def timeout_error(self, timeout_s: float) -> LockTimeout: ...


class SyncHandle(Protocol):
    """What the hold path needs of a sync handle (`SyncLease` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def acquire_timeout_s(self) -> float: ...
    def acquire(self, timeout_s: float | None = None) -> bool: ...
    def release(self, *, wait: bool = False) -> None: ...
    def timeout_error(self, timeout_s: float) -> LockTimeout: ...


class HoldOptions(LeaseOptions, total=False):
    """The options of every HTTP entry point that holds a key."""

    retry_after_s: float | None  # Retry-After of the refusals, in seconds; None: 1


A = TypeVar("A", bound=AsyncHandle)
S = TypeVar("S", bound=SyncHandle)


@dataclass(frozen=True, slots=True)
class Hold:
    """What one entry point holds: a lock (`limit` None) or one of `limit` semaphore slots.

    Built once, where the entry point is written (a dependency, a decorator, a rule),
    with `Hold.checked`, so a bad option fails there and no request checks it again.
    None means the client's settings (`acquire_timeout_s`, `lease_ttl_s`) or the
    default Retry-After (1 s).
    """

    limit: int | None = None
    acquire_timeout_s: float | None = None
    lease_ttl_s: int | None = None
    retry_after_s: float | None = None
    label: str | None = None  # the key's template, the metrics' name for it

    @classmethod
    def checked(
        cls,
        *,
        limit: int | None = None,
        where: str = "",
        label: str | None = None,
        **options: Unpack[HoldOptions],
    ) -> Hold:
        """A `Hold` whose options are checked now; errors name `where` (e.g. a rule)."""
        check_option_names(options, HoldOptions, where)
        hold = cls(limit, label=label, **options)
        check_lease_options(
            limit=limit,
            acquire_timeout_s=hold.acquire_timeout_s,
            lease_ttl_s=hold.lease_ttl_s,
            where=where,
        )
        if hold.retry_after_s is not None:
            seconds(hold.retry_after_s, f"{where}: retry_after_s" if where else "retry_after_s")
        return hold

    def for_method(self, method: str) -> Hold:
        """What a request with this HTTP method holds: the same, except for a multilock
        whose mode follows the method (`_http/limiters.py`)."""
        return self

    @overload
    def lease(self, client: AsyncDflockClient, key: str) -> AsyncHandle: ...
    @overload
    def lease(self, client: SyncDflockClient, key: str) -> SyncHandle: ...
    def lease(
        self, client: AsyncDflockClient | SyncDflockClient, key: str
    ) -> AsyncHandle | SyncHandle:
        """The handle on `key`, not taken yet: a lock or semaphore slot here; a hold of
        another kind (`limiters.py`) overrides `_handle`, which builds it."""
        return self._handle(client, key)

    def _handle(
        self, client: AsyncDflockClient | SyncDflockClient, key: str
    ) -> AsyncHandle | SyncHandle:
        lease: AsyncLease | SyncLease = client.lease(
            key,
            limit=self.limit,
            acquire_timeout_s=self.acquire_timeout_s,
            lease_ttl_s=self.lease_ttl_s,
            label=self.label,
        )
        return lease

    @overload
    async def take(self, client: AsyncDflockClient, key: str) -> AsyncHandle: ...
    @overload
    async def take(
        self, client: AsyncDflockClient, key: str, client_gone: ClientGone
    ) -> AsyncHandle | None: ...
    async def take(
        self, client: AsyncDflockClient, key: str, client_gone: ClientGone | None = None
    ) -> AsyncHandle | None:
        """Hold `key`: `acquire(self.lease(client, key), client_gone)`."""
        handle = self.lease(client, key)
        if client_gone is None:
            return await acquire(handle)
        return await acquire(handle, client_gone)

    def take_sync(self, client: SyncDflockClient, key: str) -> SyncHandle:
        """Hold `key`, waiting up to the timeout: `acquire_sync(self.lease(client, key))`."""
        return acquire_sync(self.lease(client, key))

    def refuse(self, exc: BaseException, method: str, path: str) -> HttpAnswer | None:
        """The answer for a failure to take the key (logged when 5xx), or None when
        `exc` is no refusal (a bad key is a bug: let it raise)."""
        return refuse(exc, method, path, retry_after_s=self.retry_after_s)


@overload
async def acquire(handle: A) -> A: ...
@overload
async def acquire(handle: A, client_gone: ClientGone) -> A | None: ...
async def acquire(handle: A, client_gone: ClientGone | None = None) -> A | None:
    """Hold `handle`; None if `client_gone()` finished first (nothing is held then).

    Without `client_gone`, one `acquire()` that waits up to the handle's timeout.
    Raises LockTimeout when not granted within it, ServerUnavailable when the server
    cannot be reached, and whatever `client_gone()` raises.
    """
    if client_gone is None:
        if not await handle.acquire():
            raise handle.timeout_error(handle.acquire_timeout_s)
        return handle
    if await handle.enqueue() or await wait_unless_gone(handle, client_gone):
        return handle
    return None


def acquire_sync(handle: S) -> S:
    """Hold `handle`, waiting up to its timeout; raises as `acquire` does."""
    if not handle.acquire():
        raise handle.timeout_error(handle.acquire_timeout_s)
    return handle


async def wait_unless_gone(handle: AsyncHandle, client_gone: ClientGone) -> bool:
    """After an `enqueue()` that queued: wait for the grant, or give up the place if the
    client leaves first (False)."""
    waiting = asyncio.ensure_future(handle.wait())
    watching = asyncio.ensure_future(client_gone())
    keep = False
    try:
        await asyncio.wait((waiting, watching), return_when=asyncio.FIRST_COMPLETED)
        if watching.done():
            watching.result()  # a failure to read the connection is raised, not taken for a leave
            return False
        if not waiting.result():
            raise handle.timeout_error(handle.acquire_timeout_s)
        keep = True
        return True
    finally:
        for task in (waiting, watching):
            task.cancel()  # no effect on a finished task
        # Shielded: under an anyio cancel scope every await here would be cancelled
        # again, and a grant that raced in would stay held (and renewed) for good.
        with anyio.CancelScope(shield=True):
            # A cancelled wait closes its connection (withdrawing the waiter); let it finish.
            await asyncio.wait((waiting, watching))
            if not waiting.cancelled():
                waiting.exception()  # retrieved, so asyncio does not report it as lost
            if not keep:
                await handle.release()  # a grant that came with the leave; else a no-op


async def release(handle: AsyncHandle, method: str, path: str) -> None:
    """Release after the request, once the server agreed; a loss is logged, the response stands."""
    try:
        await handle.release(wait=True)
    except LockLostError as exc:
        _log_loss(handle.name, method, path, exc)


def release_sync(handle: SyncHandle, method: str, path: str) -> None:
    """The blocking twin of `release`."""
    try:
        handle.release(wait=True)
    except LockLostError as exc:
        _log_loss(handle.name, method, path, exc)


def _log_loss(name: str, method: str, path: str, exc: LockLostError) -> None:
    log.error(
        "dflock lease on %r was lost while %s %s ran; the response was sent unchanged: %s",
        name,
        method,
        path,
        describe(exc),
    )
