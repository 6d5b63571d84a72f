"""The task decorators: `@single_instance` and `@dflock_semaphore` (a lease held while
the body runs), `@dflock_multilock` (a shared or exclusive hold), `@dflock_rate_limit`
(a permit of a rate shared by every worker).

All go directly under `@app.task`. Their options are checked when they are applied
(at import), into an `Admission` (`_admission.py`); the run itself, for these and
every other dflock task decorator, is the run path's (`_run.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

from typing_extensions import Unpack

from dflock_integrations.celery._admission import (
    ON_FULL,
    ON_LOCKED,
    Admission,
    KeyFunction,
    OnBusy,
    OnFull,
    TaskOptions,
    lease_admission,
)
from dflock_integrations.celery._multilock import multilock_admission
from dflock_integrations.celery._rate_limit import RateLimitOptions, rate_limit_admission
from dflock_integrations.celery._run import wrap
from dflock_integrations.client import LockMode, Rate

F = TypeVar("F", bound=Callable[..., Any])


def single_instance(
    key: str | KeyFunction | None = None,
    *,
    on_locked: OnBusy = "skip",
    **options: Unpack[TaskOptions],
) -> Callable[[F], F]:
    """Run at most one instance of the task per key, across every worker.

    Put it directly under `@app.task(...)`. `key` is None (the task's name), a
    template filled from the task's arguments (`"report:{report_id}"`), or a
    function called with the task's arguments that returns the key. `on_locked`
    says what a run that finds the key held does: "skip" (return the skip result,
    which `is_skipped()` recognises), "retry" (`task.retry(countdown=...)`), "wait"
    (wait in FIFO order up to `acquire_timeout_s`, default DFLOCK_ACQUIRE_TIMEOUT_S,
    then fail with LockTimeout) or "raise" (fail with LockTimeout). Only "wait" waits
    unless `acquire_timeout_s` is given. `lease_ttl_s` defaults to DFLOCK_LEASE_TTL_S.

    A retry waits `retry_countdown_s` (5 s), or with `retry_backoff` (True, or a factor
    in seconds) exponentially longer, up to `retry_backoff_max`, randomised by
    `retry_jitter`, as Celery's options of those names do; left None, they are the
    task's own options (`@app.task(retry_backoff=True)`). `emit=False` announces no
    outcome signals.
    """
    admission = lease_admission(
        "@single_instance", key, limit=None, on_busy=on_locked, allowed=ON_LOCKED, **options
    )
    return _Decorator(admission)


def dflock_semaphore(
    key: str | KeyFunction | None = None,
    *,
    limit: int,
    on_full: OnFull = "retry",
    **options: Unpack[TaskOptions],
) -> Callable[[F], F]:
    """Run the task in one of `limit` slots of `key`, shared by every worker.

    Put it directly under `@app.task(...)`. A run waits in FIFO order up to
    `acquire_timeout_s` (default DFLOCK_ACQUIRE_TIMEOUT_S) for a slot, then by
    default retries (after `retry_countdown_s`, or with backoff as `single_instance`
    says), giving its worker slot back; `on_full="skip"` returns the skip result
    instead, `"raise"` fails with LockTimeout. Every user of a key must agree on `limit`.
    The other options are `single_instance`'s.
    """
    admission = lease_admission(
        "@dflock_semaphore", key, limit=limit, on_busy=on_full, allowed=ON_FULL, **options
    )
    return _Decorator(admission)


def dflock_multilock(
    key: str | KeyFunction | None = None,
    *,
    max_shared: int,
    mode: LockMode | Literal["shared", "exclusive"],
    on_busy: OnFull = "retry",
    **options: Unpack[TaskOptions],
) -> Callable[[F], F]:
    """Run the task holding `key` shared (with up to `max_shared` others) or exclusive.

    Put it directly under `@app.task(...)`. `mode` is `LockMode.SHARED` ("shared") or
    `LockMode.EXCLUSIVE` ("exclusive"): shared runs of one key run side by side, an
    exclusive run runs alone, and a waiting exclusive run holds back shared runs that
    come after it (FIFO). Every user of a key must agree on `max_shared`. A run waits
    up to `acquire_timeout_s` (default DFLOCK_ACQUIRE_TIMEOUT_S), then `on_busy` says
    what it does, as `dflock_semaphore`'s `on_full`. The hold is renewed while the body
    runs; `current_lease()` is its handle. The other options are `single_instance`'s.
    """
    return _Decorator(
        multilock_admission(key, max_shared=max_shared, mode=mode, on_busy=on_busy, **options)
    )


def dflock_rate_limit(
    key: str | KeyFunction | None,
    rate: str | Rate,
    *,
    on_limited: OnBusy = "retry",
    **options: Unpack[RateLimitOptions],
) -> Callable[[F], F]:
    """Start at most `rate` runs of the task per period (`"2/s"`, `"100/m"`), across
    every worker, per key.

    Put it directly under `@app.task(...)`. `key` is as `single_instance` takes it
    (None: the task's name). A run over budget, with `on_limited`:
    "retry" (default) is retried after the limiter's retry-after estimate (it counts
    towards the task's `max_retries`); "wait" waits its turn in FIFO order up to
    `acquire_timeout_s` (default DFLOCK_ACQUIRE_TIMEOUT_S), then fails with
    RateLimited; "skip" returns the skip result; "raise" fails with RateLimited. A
    permit is never given back: its period frees it. `retry_countdown_s` and the
    backoff options apply when no server answers.
    """
    return _Decorator(rate_limit_admission(key, rate, on_limited=on_limited, **options))


class _Decorator:
    """What `single_instance(...)` returns; applied to the task's function."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission

    def __call__(self, function: F) -> F:
        return cast(F, wrap(function, self._admission))

    def __getattr__(self, name: str) -> Any:
        # Celery reads `__name__` of what @app.task decorates: this is how a
        # forgotten pair of parentheses (`@single_instance` alone) shows up.
        decorator = self._admission.decorator
        raise AttributeError(
            f"{decorator}(...) has no attribute {name!r}; did you write {decorator} without "
            f"parentheses? Write {decorator}() directly under @app.task"
        )
