"""What the async and sync clients share: settings, sharding, and building handles."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from dflockd_client import stable_hash_shard

from dflock_integrations.keys import check_key, prefixed
from dflock_integrations.options import check_lease_options, whole_number
from dflock_integrations.settings import DflockSettings, ServerAddress, resolve_settings


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


class ClientBase[LockT, SemaphoreT]:
    _lock_class: ClassVar[_HandleClass]
    _semaphore_class: ClassVar[_HandleClass]

    def __init__(self, settings: DflockSettings | None, overrides: dict[str, Any]) -> None:
        self.settings = resolve_settings(settings, overrides)
        self._token = self.settings.token()

    def __repr__(self) -> str:
        servers = ",".join(str(s) for s in self.settings.servers)
        return f"<{type(self).__name__} servers={servers} prefix={self.settings.key_prefix!r}>"

    def server_for(self, key: str) -> ServerAddress:
        """The server that owns a key as sent (prefix included), by dflockd-client's rule."""
        servers = self.settings.servers
        return servers[stable_hash_shard(key, len(servers))]

    def _pool_options(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "max_idle": settings.pool_max_idle,
            "max_connections": settings.pool_max_connections,
            "server_read_timeout_s": settings.server_read_timeout_s,
            "wait_timeout_s": settings.connect_timeout_s,
        }

    def lock(
        self, key: str, *, acquire_timeout_s: float | None = None, lease_ttl_s: int | None = None
    ) -> LockT:
        """A lock handle on `key`, not yet acquired: `async with` / `with client.lock("k")`."""
        handle: LockT = self._lock_class(
            self,
            check_key(key),
            prefixed(self.settings.key_prefix, key),
            limit=None,
            **lease_options(self.settings, acquire_timeout_s, lease_ttl_s),
        )
        return handle

    def semaphore(
        self,
        key: str,
        *,
        limit: int,
        acquire_timeout_s: float | None = None,
        lease_ttl_s: int | None = None,
    ) -> SemaphoreT:
        """A handle on one of `limit` slots of `key`; every user of a key must agree on `limit`."""
        handle: SemaphoreT = self._semaphore_class(
            self,
            check_key(key),
            prefixed(self.settings.key_prefix, key),
            limit=check_limit(limit),
            **lease_options(self.settings, acquire_timeout_s, lease_ttl_s),
        )
        return handle

    def lease(
        self,
        key: str,
        *,
        limit: int | None = None,
        acquire_timeout_s: float | None = None,
        lease_ttl_s: int | None = None,
    ) -> LockT | SemaphoreT:
        """`lock(key)` when `limit` is None, else `semaphore(key, limit=limit)`."""
        if limit is None:
            return self.lock(key, acquire_timeout_s=acquire_timeout_s, lease_ttl_s=lease_ttl_s)
        return self.semaphore(
            key, limit=limit, acquire_timeout_s=acquire_timeout_s, lease_ttl_s=lease_ttl_s
        )


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
