"""What the async and sync clients share: settings, sharding, fencing, building handles."""

from __future__ import annotations

import os
import threading
import weakref
import zlib
from collections import OrderedDict
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, overload

from dflock_integrations.client._fencing import Fencing
from dflock_integrations.client._ratelimit import Rate
from dflock_integrations.keys import prefixed
from dflock_integrations.metrics import Metrics, Names, metrics_for
from dflock_integrations.options import check_lease_options, whole_number
from dflock_integrations.settings import DflockSettings, ServerAddress, resolve_settings

LockT = TypeVar("LockT")
_MAX_CHECKED_OPTIONS = 64  # distinct (timeout, lease) pairs remembered as checked
MAX_LIMITERS = 1024  # rate limiters a client keeps for reuse
SemaphoreT = TypeVar("SemaphoreT")
ReentrantT = TypeVar("ReentrantT")
MultiLockT = TypeVar("MultiLockT")


class _HandleClass(Protocol):
    def __call__(
        self,
        client: Any,
        name: str,
        key: str,
        *,
        limit: int | None,
        acquire_timeout_s: float,
        lease_ttl_s: int,
    ) -> Any: ...


class ClientBase(Generic[LockT, SemaphoreT, ReentrantT, MultiLockT]):
    _lock_class: ClassVar[_HandleClass]
    _semaphore_class: ClassVar[_HandleClass]
    _reentrant_class: ClassVar[Any]
    _multilock_class: ClassVar[Any]
    _rate_limiter_class: ClassVar[Any]

    def __init__(self, settings: DflockSettings | None, overrides: dict[str, Any]) -> None:
        given = overrides.get("metrics")
        if isinstance(given, Metrics):  # an object of the caller's own (a registry, a provider)
            overrides = {k: v for k, v in overrides.items() if k != "metrics"}
        self.settings = resolve_settings(settings, overrides)
        self._metrics = metrics_for(given if isinstance(given, Metrics) else self.settings.metrics)
        self._metric_names = Names()
        self._token = self.settings.token()
        self._tls = self.settings.ssl_context()  # built once: loading CA files is slow
        # (key, owner) -> [the grant, entries]: who holds which reentrant lock how deep.
        self._reentrant: dict[tuple[str, object], list[Any]] = {}
        # The options of a handle that overrides nothing, checked once.
        self._default_options = lease_options(self.settings, None, None)
        self._checked_options: dict[tuple[object, ...], dict[str, Any]] = {}
        # Rate limiters by (key, rate, timeout, label), the most recently used kept: each
        # remembers its admissions (an exact retry-after) and parks them on one connection,
        # where a new limiter per request or task run would open and park one each.
        self._limiters: OrderedDict[tuple[object, ...], Any] = OrderedDict()
        self._limiters_guard = threading.Lock()  # sync clients serve many threads
        self._fencing = Fencing(
            self.settings.fencing,
            cluster=self.settings.topology == "cluster",
            key_prefix=self.settings.key_prefix,
        )
        _live_clients.add(self)

    def __repr__(self) -> str:
        servers = ",".join(str(s) for s in self.settings.servers)
        return f"<{type(self).__name__} servers={servers} prefix={self.settings.key_prefix!r}>"

    def server_for(self, key: str) -> ServerAddress:
        """The shard that owns a key as sent (prefix included): CRC-32, as dflockd-client."""
        servers = self.settings.servers
        if len(servers) == 1:
            return servers[0]
        return servers[zlib.crc32(key.encode("utf-8")) % len(servers)]

    @overload
    def lock(
        self,
        key: str,
        *,
        acquire_timeout_s: float | None = None,
        lease_ttl_s: int | None = None,
        reentrant: Literal[False] = False,
        label: str | None = None,
    ) -> LockT: ...

    @overload
    def lock(
        self,
        key: str,
        *,
        acquire_timeout_s: float | None = None,
        lease_ttl_s: int | None = None,
        reentrant: Literal[True],
        label: str | None = None,
    ) -> ReentrantT: ...

    def lock(
        self,
        key: str,
        *,
        acquire_timeout_s: float | None = None,
        lease_ttl_s: int | None = None,
        reentrant: bool = False,
        label: str | None = None,
    ) -> LockT | ReentrantT:
        """A lock handle on `key`, not yet acquired: `async with` / `with client.lock("k")`.

        `reentrant=True`: the same task (async) or thread (sync) may enter it again
        while it holds it; only the outermost entry acquires and releases. `label`:
        the key's template, for metrics (`"order:{id}"`).
        """
        handle: LockT = self._lock_class(
            self,
            key,
            prefixed(self.settings.key_prefix, key),  # the key's one check
            limit=None,
            **self._options(acquire_timeout_s, lease_ttl_s),
        )
        self._label(handle, key, label)
        if reentrant:
            wrapped: ReentrantT = self._reentrant_class(self, handle)
            return wrapped
        return handle

    def multilock(
        self,
        key: str,
        *,
        max_shared: int,
        acquire_timeout_s: float | None = None,
        lease_ttl_s: int | None = None,
        label: str | None = None,
    ) -> MultiLockT:
        """Shared holds of `key` (up to `max_shared` at once) or one exclusive hold.

        Every user of the key must agree on `max_shared`. Nothing happens on the wire
        until `acquire(mode)`, `shared()` or `exclusive()`.
        """
        options = self._options(acquire_timeout_s, lease_ttl_s)
        multilock: MultiLockT = self._multilock_class(
            self,
            key,
            prefixed(self.settings.key_prefix, key),  # the key's one check
            max_shared=whole_number(max_shared, "max_shared"),
            **options,
        )
        self._label(multilock, key, label)
        return multilock

    def semaphore(
        self,
        key: str,
        *,
        limit: int,
        acquire_timeout_s: float | None = None,
        lease_ttl_s: int | None = None,
        label: str | None = None,
    ) -> SemaphoreT:
        """A handle on one of `limit` slots of `key`; every user of a key must agree on `limit`."""
        handle: SemaphoreT = self._semaphore_class(
            self,
            key,
            prefixed(self.settings.key_prefix, key),  # the key's one check
            limit=check_limit(limit),
            **self._options(acquire_timeout_s, lease_ttl_s),
        )
        self._label(handle, key, label)
        return handle

    def lease(
        self,
        key: str,
        *,
        limit: int | None = None,
        acquire_timeout_s: float | None = None,
        lease_ttl_s: int | None = None,
        label: str | None = None,
    ) -> LockT | SemaphoreT:
        """`lock(key)` when `limit` is None, else `semaphore(key, limit=limit)`."""
        if limit is None:
            return self.lock(
                key, acquire_timeout_s=acquire_timeout_s, lease_ttl_s=lease_ttl_s, label=label
            )
        return self.semaphore(
            key,
            limit=limit,
            acquire_timeout_s=acquire_timeout_s,
            lease_ttl_s=lease_ttl_s,
            label=label,
        )

    def rate_limiter(
        self,
        key: str,
        rate: str | Rate,
        *,
        acquire_timeout_s: float | None = None,
        label: str | None = None,
    ) -> Any:
        """At most `rate` admissions for `key` across every process (`"5/s"`, `"100/m"`).

        `try_acquire()` admits now or says False; `acquire(timeout_s)` waits its turn in
        FIFO order and raises `RateLimited` (with `retry_after_s`) after the timeout.
        The same key, rate, timeout and label give the same limiter, call after call
        (the last `MAX_LIMITERS` used are kept): a web request or a task run may ask
        for it each time.
        """
        parsed = Rate.parse(rate)
        # The types are part of the key, so a checked 1 never lets True through.
        known = (key, parsed, type(acquire_timeout_s), acquire_timeout_s, label)
        with self._limiters_guard:
            limiter = self._limiters.get(known)
            if limiter is not None:
                self._limiters.move_to_end(known)
                return limiter
        timeout = (
            self.settings.acquire_timeout_s if acquire_timeout_s is None else acquire_timeout_s
        )
        check_lease_options(acquire_timeout_s=timeout)
        fresh = self._rate_limiter_class(
            self,
            key,
            prefixed(self.settings.key_prefix, key),  # the key's one check
            parsed,
            acquire_timeout_s=float(timeout),
        )
        self._label(fresh, key, label)
        with self._limiters_guard:
            limiter = self._limiters.setdefault(known, fresh)
            while len(self._limiters) > MAX_LIMITERS:
                # A limiter dropped here still frees its admissions with their period.
                self._limiters.popitem(last=False)
        return limiter

    def _label(self, handle: Any, key: str, label: str | None) -> None:
        """Give a handle its metric name: bounded, computed only when metrics are on."""
        if self._metrics.enabled:
            target = getattr(handle, "_lock", handle)  # a reentrant lock: its inner lock
            target.metric_name = self._metric_names.of(key, label)

    def _options(self, acquire_timeout_s: float | None, lease_ttl_s: int | None) -> dict[str, Any]:
        if acquire_timeout_s is None and lease_ttl_s is None:
            return self._default_options
        # Checked once per pair: an adapter passes the same pair on every request.
        # The types are part of the key, so a checked 1 never lets True through.
        pair = (type(acquire_timeout_s), acquire_timeout_s, type(lease_ttl_s), lease_ttl_s)
        options = self._checked_options.get(pair)
        if options is None:
            options = lease_options(self.settings, acquire_timeout_s, lease_ttl_s)
            if len(self._checked_options) < _MAX_CHECKED_OPTIONS:
                self._checked_options[pair] = options
        return options

    def _forget_after_fork(self) -> None:
        """In a forked child: the parent's sockets, loops and threads are not ours to use."""
        pools = getattr(self, "_pools", None)
        if pools is not None:
            pools.clear()  # the child's copy only; nothing is closed
        keeper = getattr(self, "_keeper", None)
        if keeper is not None:
            self._keeper = type(keeper)(self)
        broker = getattr(self, "_broker", None)
        if broker is not None:
            self._broker = broker.after_fork()
        # A parent thread may have held this lock at the fork; the child's copy would
        # stay locked forever. The child is single-threaded here: a new one is safe.
        self._fencing.reset_lock()
        # The parent's limiters park on the parent's connections and loop thread.
        self._limiters = OrderedDict()
        self._limiters_guard = threading.Lock()


def check_limit(limit: object) -> int:
    return whole_number(limit, "semaphore limit")


def lease_options(
    settings: DflockSettings, acquire_timeout_s: float | None, lease_ttl_s: int | None
) -> dict[str, Any]:
    """A handle's timeout and lease: the call's own, else the settings'; checked now."""
    timeout = settings.acquire_timeout_s if acquire_timeout_s is None else acquire_timeout_s
    lease = settings.lease_ttl_s if lease_ttl_s is None else lease_ttl_s
    check_lease_options(acquire_timeout_s=timeout, lease_ttl_s=lease)
    return {"acquire_timeout_s": float(timeout), "lease_ttl_s": lease}


_live_clients: weakref.WeakSet[ClientBase[Any, Any, Any, Any]] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # The child is single-threaded here. A Celery worker forks children while its own
    # threads use a client: the child starts over with connections of its own.
    for client in list(_live_clients):
        client._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
