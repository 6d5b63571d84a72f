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
from dataclasses import dataclass, fields
from typing import Any, Final, Literal, Protocol, cast

from typing_extensions import Unpack

from dflock_integrations.celery._retry import RetryOptions, RetryPolicy
from dflock_integrations.client import SyncDflockClient, SyncLease
from dflock_integrations.errors import InvalidKeyError
from dflock_integrations.keys import KeyTemplate
from dflock_integrations.options import LeaseOptions, check_lease_options, check_option_names
from dflock_integrations.settings import DflockSettings

# What a run does when its key is busy: `on_locked` (a lock) or `on_full` (a semaphore).
OnBusy = Literal["skip", "retry", "wait", "raise"]
OnFull = Literal["retry", "skip", "raise"]
KeyFunction = Callable[..., str]

ON_LOCKED: Final[tuple[OnBusy, ...]] = ("skip", "retry", "wait", "raise")
ON_FULL: Final[tuple[OnFull, ...]] = ("retry", "skip", "raise")


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

    def label(self, key: str) -> str | None:
        """The key's metric name: its template, or the task's name; None for a key
        function, whose keys the client labels by their first part (bounded)."""
        if isinstance(self.source, KeyTemplate):
            return self.source.template
        return key if self.source is None else None


@dataclass(frozen=True, slots=True)
class Common:
    """The options every admission checks alike: key, on_busy, wait, retry, emit."""

    key: TaskKey
    on_busy: OnBusy
    acquire_timeout_s: float | None
    retry: RetryPolicy
    emit: bool

    @classmethod
    def checked(
        cls,
        decorator: str,
        key: object,
        options: Mapping[str, Any],
        names: type,
        **on_busy: tuple[str, tuple[str, ...]],
    ) -> Common:
        """`on_busy` is one `option=(value, allowed values)`, named as the decorator names it."""
        check_option_names(options, names, decorator)
        ((option, (choice, allowed)),) = on_busy.items()
        if choice not in allowed:
            raise ValueError(f"{decorator}: {option} must be one of {allowed}, got {choice!r}")
        task_key = TaskKey.checked(decorator, key)
        acquire_timeout_s = options.get("acquire_timeout_s")
        check_lease_options(acquire_timeout_s=acquire_timeout_s, where=decorator)
        retry = RetryPolicy.checked(decorator, cast(RetryOptions, options))
        emit = options.get("emit", True)
        if not isinstance(emit, bool):
            raise TypeError(f"{decorator}: emit must be True or False, got {emit!r}")
        return cls(
            key=task_key,
            on_busy=cast(OnBusy, choice),  # checked against `allowed` above
            acquire_timeout_s=None if acquire_timeout_s is None else float(acquire_timeout_s),
            retry=retry,
            emit=emit,
        )

    @property
    def decorator(self) -> str:
        return self.key.decorator

    def countdown(self, task: Any, reason: BaseException) -> float:
        """Seconds before a run that found its key busy (or no server) runs again."""
        return self.retry.countdown(task)

    def parts(self) -> dict[str, Any]:
        """Its fields by name, for an admission that adds its own (not `asdict`, which
        would turn the key and the retry policy into dicts too)."""
        return {f.name: getattr(self, f.name) for f in fields(Common)}


@dataclass(frozen=True, slots=True)
class LeaseAdmission(Common):
    """`@single_instance` (`limit` None: a lock) or `@dflock_semaphore` (a slot of `limit`)."""

    limit: int | None
    lease_ttl_s: int | None

    def wait_s(self, settings: DflockSettings) -> float:
        """How long to wait for a grant, in FIFO order."""
        if self.acquire_timeout_s is not None:
            return self.acquire_timeout_s
        # A lock decides at once unless told to wait; a semaphore slot is worth a wait.
        if self.limit is None and self.on_busy != "wait":
            return 0.0
        return settings.acquire_timeout_s

    def take(self, client: SyncDflockClient, key: str) -> SyncLease:
        lease = client.lease(
            key, limit=self.limit, lease_ttl_s=self.lease_ttl_s, label=self.key.label(key)
        )
        timeout = self.wait_s(client.settings)
        if not lease.acquire(timeout):
            raise lease.timeout_error(timeout)
        return lease


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
    option = "on_locked" if limit is None else "on_full"
    common = Common.checked(decorator, key, options, TaskOptions, **{option: (on_busy, allowed)})
    lease_ttl_s = options.get("lease_ttl_s")
    check_lease_options(limit=limit, lease_ttl_s=lease_ttl_s, where=decorator)
    return LeaseAdmission(**common.parts(), limit=limit, lease_ttl_s=lease_ttl_s)
