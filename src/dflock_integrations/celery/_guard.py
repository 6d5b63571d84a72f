"""What one decorator asks for: a key, a lock or a semaphore, and what to do when busy.

Checked when the decorator is applied (at import), so a bad option or a template
field the task does not have fails the import, never a run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from celery.utils.time import get_exponential_backoff_interval

from dflock_integrations.client import SyncDflockClient, SyncLease
from dflock_integrations.errors import InvalidKeyError
from dflock_integrations.keys import KeyTemplate
from dflock_integrations.options import check_lease_options, seconds, whole_number
from dflock_integrations.settings import DflockSettings

OnBusy = Literal["skip", "retry", "wait", "raise"]
OnLocked = Literal["skip", "retry", "wait", "raise"]
OnFull = Literal["retry", "skip", "raise"]
KeyFunction = Callable[..., str]

ON_LOCKED: Final[tuple[OnLocked, ...]] = ("skip", "retry", "wait", "raise")
ON_FULL: Final[tuple[OnFull, ...]] = ("retry", "skip", "raise")
# Seconds before a task that found its key busy (or the server down) runs again.
DEFAULT_RETRY_COUNTDOWN_S: Final = 5.0
# Celery's defaults for the task options of the same names.
CELERY_RETRY_BACKOFF_MAX_S: Final = 600
CELERY_RETRY_JITTER: Final = True


@dataclass(frozen=True, slots=True)
class Guard:
    """One `@single_instance` (limit None) or `@dflock_semaphore` applied to a task."""

    key: KeyTemplate | KeyFunction | None  # None: the task's name
    limit: int | None
    on_busy: OnBusy
    acquire_timeout_s: float | None
    lease_ttl_s: int | None
    retry_countdown_s: float
    emit: bool
    # None: the task's own option of that name (Celery reads them for autoretry_for).
    retry_backoff: bool | int | None = None
    retry_backoff_max: int | None = None
    retry_jitter: bool | None = None

    @property
    def decorator(self) -> str:
        return "@single_instance" if self.limit is None else "@dflock_semaphore"

    def wait_s(self, settings: DflockSettings) -> float:
        """How long to wait for a grant, in FIFO order."""
        if self.acquire_timeout_s is not None:
            return self.acquire_timeout_s
        # A lock decides at once unless told to wait; a semaphore slot is worth a wait.
        if self.limit is None and self.on_busy != "wait":
            return 0.0
        return settings.acquire_timeout_s

    def key_for(
        self,
        task_name: str,
        arguments: Callable[[], Mapping[str, Any]],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> str:
        """The key for one run: the task's name, the filled template, or the function's."""
        if self.key is None:
            return task_name
        if isinstance(self.key, KeyTemplate):
            return self.key.render(arguments() if self.key.fields else {})
        key = self.key(*args, **kwargs)
        if not isinstance(key, str):
            raise InvalidKeyError(
                f"the key function of {self.decorator} returned {type(key).__name__}, not str"
            )
        return key

    def countdown(self, task: Any) -> float:
        """Seconds before the retry: fixed, or with backoff as Celery's autoretry computes it.

        `retry_backoff` True (or N) waits 1 (N) s, then twice that per retry already
        made, up to `retry_backoff_max`; `retry_jitter` picks a random time up to that.
        """
        backoff = _own(self.retry_backoff, task, "retry_backoff", False)
        if not backoff:
            return self.retry_countdown_s
        return float(
            get_exponential_backoff_interval(
                factor=int(max(1.0, float(backoff))),
                retries=task.request.retries or 0,
                maximum=int(
                    _own(
                        self.retry_backoff_max,
                        task,
                        "retry_backoff_max",
                        CELERY_RETRY_BACKOFF_MAX_S,
                    )
                ),
                full_jitter=bool(
                    _own(self.retry_jitter, task, "retry_jitter", CELERY_RETRY_JITTER)
                ),
            )
        )

    def handle(self, client: SyncDflockClient, key: str) -> SyncLease:
        return client.lease(key, limit=self.limit, lease_ttl_s=self.lease_ttl_s)


def _own(value: Any, task: Any, option: str, default: Any) -> Any:
    return getattr(task, option, default) if value is None else value


def make_guard(
    decorator: str,
    key: object,
    *,
    limit: int | None,
    on_busy: str,
    allowed: tuple[str, ...],
    acquire_timeout_s: float | None,
    lease_ttl_s: int | None,
    retry_countdown_s: float,
    emit: bool,
    retry_backoff: bool | int | None = None,
    retry_backoff_max: int | None = None,
    retry_jitter: bool | None = None,
) -> Guard:
    """A validated `Guard`; every error names the decorator and the option."""
    if on_busy not in allowed:
        option = "on_locked" if limit is None else "on_full"
        raise ValueError(f"{decorator}: {option} must be one of {allowed}, got {on_busy!r}")
    checked_key: KeyTemplate | KeyFunction | None
    if key is None:
        checked_key = None
    elif isinstance(key, str):
        checked_key = KeyTemplate(key)
    elif callable(key):
        checked_key = key
    else:
        raise InvalidKeyError(
            f"{decorator}: key must be None, a template such as 'report:{{report_id}}' "
            f"or a function, got {type(key).__name__}"
        )
    check_lease_options(
        limit=limit, acquire_timeout_s=acquire_timeout_s, lease_ttl_s=lease_ttl_s, where=decorator
    )
    seconds(retry_countdown_s, f"{decorator}: retry_countdown_s")
    if not isinstance(emit, bool):
        raise TypeError(f"{decorator}: emit must be True or False, got {emit!r}")
    if retry_backoff is not None and not isinstance(retry_backoff, bool):
        whole_number(retry_backoff, f"{decorator}: retry_backoff (True, False or seconds)")
    if retry_backoff_max is not None:
        seconds(retry_backoff_max, f"{decorator}: retry_backoff_max")
    if retry_jitter is not None and not isinstance(retry_jitter, bool):
        raise TypeError(f"{decorator}: retry_jitter must be True or False, got {retry_jitter!r}")
    return Guard(
        key=checked_key,
        limit=limit,
        on_busy=cast(OnBusy, on_busy),  # checked against `allowed` above
        acquire_timeout_s=None if acquire_timeout_s is None else float(acquire_timeout_s),
        lease_ttl_s=lease_ttl_s,
        retry_countdown_s=float(retry_countdown_s),
        emit=emit,
        retry_backoff=retry_backoff,
        retry_backoff_max=None if retry_backoff_max is None else int(retry_backoff_max),
        retry_jitter=retry_jitter,
    )


def check_fields(guard: Guard, signature: inspect.Signature, function: Callable[..., Any]) -> None:
    """A template may name only the task's parameters (any name if it takes **kwargs)."""
    if not isinstance(guard.key, KeyTemplate):
        return
    parameters = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    missing = [field for field in guard.key.fields if field not in parameters]
    if missing:
        raise InvalidKeyError(
            f"{guard.decorator}: key template {guard.key.template!r} names {missing[0]!r}, "
            f"which is not a parameter of {function.__qualname__}{signature}"
        )
