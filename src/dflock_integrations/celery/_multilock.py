"""`@dflock_multilock`'s admission: the run's key held in a shared or exclusive mode."""

from __future__ import annotations

from dataclasses import dataclass

from typing_extensions import Unpack

from dflock_integrations.celery._admission import ON_FULL, Common, TaskOptions
from dflock_integrations.client import LockMode, SyncDflockClient, SyncMultiLockHandle
from dflock_integrations.options import check_lease_options

DECORATOR = "@dflock_multilock"


@dataclass(frozen=True, slots=True)
class MultiLockAdmission(Common):
    """A hold of `key` in `mode`, one of up to `max_shared` shared holds or the only one."""

    max_shared: int
    mode: LockMode
    lease_ttl_s: int | None

    def take(self, client: SyncDflockClient, key: str) -> SyncMultiLockHandle:
        multilock = client.multilock(
            key,
            max_shared=self.max_shared,
            lease_ttl_s=self.lease_ttl_s,
            label=self.key.label(key),
        )
        # As a semaphore slot, a mode is worth a wait in FIFO order before giving up.
        timeout = (
            client.settings.acquire_timeout_s
            if self.acquire_timeout_s is None
            else self.acquire_timeout_s
        )
        handle: SyncMultiLockHandle = multilock.acquire(self.mode, timeout)
        return handle


def multilock_admission(
    key: object,
    *,
    max_shared: int,
    mode: LockMode | str,
    on_busy: str,
    **options: Unpack[TaskOptions],
) -> MultiLockAdmission:
    """A checked `MultiLockAdmission`; every error names the decorator and the option."""
    common = Common.checked(DECORATOR, key, options, TaskOptions, on_busy=(on_busy, ON_FULL))
    lease_ttl_s = options.get("lease_ttl_s")
    check_lease_options(lease_ttl_s=lease_ttl_s, where=DECORATOR)
    try:
        checked_mode = LockMode.of(mode)
    except ValueError as exc:
        raise ValueError(f"{DECORATOR}: mode: {exc}") from None
    if isinstance(max_shared, bool) or not isinstance(max_shared, int) or max_shared < 1:
        raise ValueError(
            f"{DECORATOR}: max_shared must be a whole number >= 1 (how many shared runs may "
            f"hold the key at once), got {max_shared!r}"
        )
    return MultiLockAdmission(
        **common.parts(), max_shared=max_shared, mode=checked_mode, lease_ttl_s=lease_ttl_s
    )
