"""What a run must hold before its body runs, and what it does when that is busy.

A decorator builds an `Admission` when it is applied (at import), so a bad option or
a template field the task does not have fails the import, never a run. The run path
(`_run.py`) asks it for the run's key (`TaskKey`), takes it, and when it is busy
skips, retries, waits or raises as `on_busy` says. `LeaseAdmission` holds a lock or
a semaphore slot; another kind (a multilock mode, a rate-limit permit) is another
class with the same attributes and methods (`Admission`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, cast

from celery.utils.time import get_exponential_backoff_interval
from typing_extensions import TypedDict, Unpack

from dflock_integrations.client import SyncDflockClient, SyncLease
from dflock_integrations.errors import InvalidKeyError
from dflock_integrations.keys import KeyTemplate
from dflock_integrations.options import (
    LeaseOptions,
    check_lease_options,
    check_option_names,
    seconds,
    whole_number,
)
from dflock_integrations.settings import DflockSettings

# What a run does when its key is busy: `on_locked` (a lock) or `on_full` (a semaphore).
OnBusy = Literal["skip", "retry", "wait", "raise"]
OnFull = Literal["retry", "skip", "raise"]
KeyFunction = Callable[..., str]

ON_LOCKED: Final[tuple[OnBusy, ...]] = ("skip", "retry", "wait", "raise")
ON_FULL: Final[tuple[OnFull, ...]] = ("retry", "skip", "raise")
# Seconds before a task that found its key busy (or the server down) runs again.
DEFAULT_RETRY_COUNTDOWN_S: Final = 5.0
# Celery's defaults for the task options of the same names.
CELERY_RETRY_BACKOFF_MAX_S: Final = 600
CELERY_RETRY_JITTER: Final = True


class RetryOptions(TypedDict, total=False):
    """When a run that found its key busy (or no server) runs again; see `RetryPolicy`."""

    retry_countdown_s: float  # seconds; 5 by default
    retry_backoff: bool | int | None  # None: the task's own option of that name
    retry_backoff_max: int | None
    retry_jitter: bool | None


class TaskOptions(LeaseOptions, RetryOptions, total=False):
    """The options every dflock task decorator takes."""

    emit: bool  # announce the run's outcome as a signal; True by default


class Held(Protocol):
    """What a taken admission gives the run, released when the body ends."""

    @property
    def name(self) -> str: ...
    @property
    def lost(self) -> bool: ...
    def release(self, *, wait: bool = False) -> None: ...


class Admission(Protocol):
    """What one decorator asks of a run; the run path takes every admission in turn."""

    @property
    def decorator(self) -> str: ...  # "@single_instance", for messages
    @property
    def key(self) -> TaskKey: ...
    @property
    def on_busy(self) -> OnBusy: ...
    @property
    def emit(self) -> bool: ...

    def take(self, client: SyncDflockClient, key: str) -> Held:
        """Held, or LockTimeout when busy past its wait (ServerUnavailable: no server)."""
        ...

    def countdown(self, task: Any, reason: BaseException) -> float:
        """Seconds before a retry after `reason` (busy, or no server)."""
        ...


@dataclass(frozen=True, slots=True)
class TaskKey:
    """A run's key: the task's name (`source` None), a template filled from the
    task's arguments, or a function called with them."""

    source: KeyTemplate | KeyFunction | None
    decorator: str

    @classmethod
    def checked(cls, decorator: str, key: object) -> TaskKey:
        if key is None or callable(key):
            return cls(cast("KeyFunction | None", key), decorator)
        if isinstance(key, str):
            return cls(KeyTemplate(key), decorator)
        raise InvalidKeyError(
            f"{decorator}: key must be None, a template such as 'report:{{report_id}}' "
            f"or a function, got {type(key).__name__}"
        )

    def check_fields(self, signature: inspect.Signature, function: Callable[..., Any]) -> None:
        """A template may name only the task's parameters (any name if it takes **kwargs)."""
        template = self.source
        if not isinstance(template, KeyTemplate):
            return
        parameters = signature.parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return
        missing = [field for field in template.fields if field not in parameters]
        if missing:
            raise InvalidKeyError(
                f"{self.decorator}: key template {template.template!r} names {missing[0]!r}, "
                f"which is not a parameter of {function.__qualname__}{signature}"
            )

    def for_run(
        self,
        task_name: str,
        arguments: Callable[[], Mapping[str, Any]],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> str:
        """The key of one run; `arguments()` binds the task's arguments by name."""
        if self.source is None:
            return task_name
        if isinstance(self.source, KeyTemplate):
            return self.source.render(arguments() if self.source.fields else {})
        key = self.source(*args, **kwargs)
        if not isinstance(key, str):
            raise InvalidKeyError(
                f"the key function of {self.decorator} returned {type(key).__name__}, not str"
            )
        return key


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a run that found its key busy runs again: after `countdown_s`, or backing
    off as Celery's autoretry does. None: the task's own option of that name."""

    countdown_s: float = DEFAULT_RETRY_COUNTDOWN_S
    backoff: bool | int | None = None
    backoff_max: int | None = None
    jitter: bool | None = None

    @classmethod
    def checked(cls, decorator: str, options: RetryOptions) -> RetryPolicy:
        countdown_s = options.get("retry_countdown_s", DEFAULT_RETRY_COUNTDOWN_S)
        backoff = options.get("retry_backoff")
        backoff_max = options.get("retry_backoff_max")
        jitter = options.get("retry_jitter")
        seconds(countdown_s, f"{decorator}: retry_countdown_s")
        if backoff is not None and not isinstance(backoff, bool):
            whole_number(backoff, f"{decorator}: retry_backoff (True, False or seconds)")
        if backoff_max is not None:
            seconds(backoff_max, f"{decorator}: retry_backoff_max")
        if jitter is not None and not isinstance(jitter, bool):
            raise TypeError(f"{decorator}: retry_jitter must be True or False, got {jitter!r}")
        maximum = None if backoff_max is None else int(backoff_max)
        return cls(float(countdown_s), backoff, maximum, jitter)

    def countdown(self, task: Any) -> float:
        """Seconds before the retry: fixed, or with backoff as Celery's autoretry computes it.

        `retry_backoff` True (or N) waits 1 (N) s, then twice that per retry already
        made, up to `retry_backoff_max`; `retry_jitter` picks a random time up to that.
        """
        backoff = _own(self.backoff, task, "retry_backoff", False)
        if not backoff:
            return self.countdown_s
        maximum = _own(self.backoff_max, task, "retry_backoff_max", CELERY_RETRY_BACKOFF_MAX_S)
        return float(
            get_exponential_backoff_interval(
                factor=int(max(1.0, float(backoff))),
                retries=task.request.retries or 0,
                maximum=int(maximum),
                full_jitter=bool(_own(self.jitter, task, "retry_jitter", CELERY_RETRY_JITTER)),
            )
        )


def _own(value: Any, task: Any, option: str, default: Any) -> Any:
    return getattr(task, option, default) if value is None else value


@dataclass(frozen=True, slots=True)
class LeaseAdmission:
    """`@single_instance` (`limit` None: a lock) or `@dflock_semaphore` (a slot of `limit`)."""

    key: TaskKey
    limit: int | None
    on_busy: OnBusy
    acquire_timeout_s: float | None
    lease_ttl_s: int | None
    retry: RetryPolicy
    emit: bool

    @property
    def decorator(self) -> str:
        return self.key.decorator

    def wait_s(self, settings: DflockSettings) -> float:
        """How long to wait for a grant, in FIFO order."""
        if self.acquire_timeout_s is not None:
            return self.acquire_timeout_s
        # A lock decides at once unless told to wait; a semaphore slot is worth a wait.
        if self.limit is None and self.on_busy != "wait":
            return 0.0
        return settings.acquire_timeout_s

    def take(self, client: SyncDflockClient, key: str) -> SyncLease:
        lease = client.lease(key, limit=self.limit, lease_ttl_s=self.lease_ttl_s)
        timeout = self.wait_s(client.settings)
        if not lease.acquire(timeout):
            raise lease.timeout_error(timeout)
        return lease

    def countdown(self, task: Any, reason: BaseException) -> float:
        return self.retry.countdown(task)


def lease_admission(
    decorator: str,
    key: object,
    *,
    limit: int | None,
    on_busy: str,
    allowed: tuple[str, ...],
    **options: Unpack[TaskOptions],
) -> LeaseAdmission:
    """A checked `LeaseAdmission`; every error names the decorator and the option."""
    check_option_names(options, TaskOptions, decorator)
    if on_busy not in allowed:
        option = "on_locked" if limit is None else "on_full"
        raise ValueError(f"{decorator}: {option} must be one of {allowed}, got {on_busy!r}")
    task_key = TaskKey.checked(decorator, key)
    acquire_timeout_s = options.get("acquire_timeout_s")
    lease_ttl_s = options.get("lease_ttl_s")
    check_lease_options(
        limit=limit, acquire_timeout_s=acquire_timeout_s, lease_ttl_s=lease_ttl_s, where=decorator
    )
    retry = RetryPolicy.checked(decorator, options)
    emit = options.get("emit", True)
    if not isinstance(emit, bool):
        raise TypeError(f"{decorator}: emit must be True or False, got {emit!r}")
    return LeaseAdmission(
        key=task_key,
        limit=limit,
        on_busy=cast(OnBusy, on_busy),  # checked against `allowed` above
        acquire_timeout_s=None if acquire_timeout_s is None else float(acquire_timeout_s),
        lease_ttl_s=lease_ttl_s,
        retry=retry,
        emit=emit,
    )
