"""`@single_instance` and `@dflock_semaphore`: a lease held while the task body runs.

Both wrap the task's function, under `@app.task`, so the lease is taken inside the
worker when the task starts, whoever sent it (`delay`, beat, `send_task`, canvas),
and given back when the body ends, whatever the end. The class Celery builds is
untouched: any `base=` still works and the task keeps its signature.

A task that retries gives its lease back before the retry message is published
(a `before_task_publish` receiver), so a retry never finds its own task's lease.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from celery._state import get_current_task
from celery.signals import before_task_publish

from dflock_integrations.celery._config import get_client
from dflock_integrations.celery._guard import (
    DEFAULT_RETRY_COUNTDOWN_S,
    ON_FULL,
    ON_LOCKED,
    Guard,
    KeyFunction,
    OnFull,
    OnLocked,
    check_fields,
    make_guard,
)
from dflock_integrations.celery._outcomes import (
    Outcome,
    classify,
    connect_decorated_hooks,
    emit_outcome,
    payload,
    wrapped_chain,
)
from dflock_integrations.celery._skipped import skipped_result
from dflock_integrations.client import SyncLease
from dflock_integrations.errors import LockLostError, ServerUnavailable

log = logging.getLogger("dflock_integrations.celery")

F = TypeVar("F", bound=Callable[..., Any])
SPEC_ATTRIBUTE = "__dflock_spec__"


def single_instance(
    key: str | KeyFunction | None = None,
    *,
    on_locked: OnLocked = "skip",
    acquire_timeout_s: float | None = None,
    lease_ttl_s: int | None = None,
    retry_countdown_s: float = DEFAULT_RETRY_COUNTDOWN_S,
    retry_backoff: bool | int | None = None,
    retry_backoff_max: int | None = None,
    retry_jitter: bool | None = None,
    emit: bool = True,
) -> Callable[[F], F]:
    """Run at most one instance of the task per key, across every worker.

    Put it directly under `@app.task(...)`. `key` is None (the task's name), a
    template filled from the task's arguments (`"report:{report_id}"`), or a
    function called with the task's arguments that returns the key. `on_locked`
    says what a run that finds the key held does: "skip" (return the skip result,
    which `is_skipped()` recognises), "retry" (`task.retry(countdown=...)`), "wait"
    (wait in FIFO order up to `acquire_timeout_s`, default DFLOCK_ACQUIRE_TIMEOUT_S,
    then fail with LockTimeout) or "raise" (fail with LockTimeout). Only "wait" waits
    unless `acquire_timeout_s` is given.

    A retry waits `retry_countdown_s`, or with `retry_backoff` (True, or a factor in
    seconds) exponentially longer, up to `retry_backoff_max`, randomised by
    `retry_jitter`, as Celery's options of those names do; left None, they are the
    task's own options (`@app.task(retry_backoff=True)`).
    """
    return _Decorator(
        make_guard(
            "@single_instance",
            key,
            limit=None,
            on_busy=on_locked,
            allowed=ON_LOCKED,
            acquire_timeout_s=acquire_timeout_s,
            lease_ttl_s=lease_ttl_s,
            retry_countdown_s=retry_countdown_s,
            emit=emit,
            retry_backoff=retry_backoff,
            retry_backoff_max=retry_backoff_max,
            retry_jitter=retry_jitter,
        )
    )


def dflock_semaphore(
    key: str | KeyFunction | None = None,
    *,
    limit: int,
    on_full: OnFull = "retry",
    acquire_timeout_s: float | None = None,
    lease_ttl_s: int | None = None,
    retry_countdown_s: float = DEFAULT_RETRY_COUNTDOWN_S,
    retry_backoff: bool | int | None = None,
    retry_backoff_max: int | None = None,
    retry_jitter: bool | None = None,
    emit: bool = True,
) -> Callable[[F], F]:
    """Run the task in one of `limit` slots of `key`, shared by every worker.

    Put it directly under `@app.task(...)`. A run waits in FIFO order up to
    `acquire_timeout_s` (default DFLOCK_ACQUIRE_TIMEOUT_S) for a slot, then by
    default retries (after `retry_countdown_s`, or with backoff as `single_instance`
    says), giving its worker slot back; `on_full="skip"` returns the skip result
    instead, `"raise"` fails with LockTimeout. Every user of a key must agree on `limit`.
    """
    return _Decorator(
        make_guard(
            "@dflock_semaphore",
            key,
            limit=limit,
            on_busy=on_full,
            allowed=ON_FULL,
            acquire_timeout_s=acquire_timeout_s,
            lease_ttl_s=lease_ttl_s,
            retry_countdown_s=retry_countdown_s,
            emit=emit,
            retry_backoff=retry_backoff,
            retry_backoff_max=retry_backoff_max,
            retry_jitter=retry_jitter,
        )
    )


@dataclass(frozen=True, slots=True)
class Spec:
    """What a decorated function carries: the original function and its guards."""

    function: Callable[..., Any]
    signature: inspect.Signature
    guards: tuple[Guard, ...]  # outermost decorator first; acquired in this order
    emit: bool
    first_parameter: str | None  # `self` of a bind=True task
    var_keyword: str | None  # the name of **kwargs, whose items a template may use


class _Decorator:
    """What `single_instance(...)` returns; applied to the task's function."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    def __call__(self, function: F) -> F:
        return cast(F, _wrap(function, self._guard))

    def __getattr__(self, name: str) -> Any:
        # Celery reads `__name__` of what @app.task decorates: this is how a
        # forgotten pair of parentheses (`@single_instance` alone) shows up.
        raise AttributeError(
            f"{self._guard.decorator}(...) has no attribute {name!r}; did you write "
            f"{self._guard.decorator} without parentheses? Write {self._guard.decorator}() "
            "directly under @app.task"
        )


def _wrap(function: Callable[..., Any], guard: Guard) -> Callable[..., Any]:
    inner: Spec | None = getattr(function, SPEC_ATTRIBUTE, None)
    original = inner.function if inner is not None else function
    guards = (guard, *inner.guards) if inner is not None else (guard,)
    if sum(g.key is None for g in guards) > 1:
        raise ValueError(
            "stacked dflock decorators would all use the task's name as their key; "
            "give each one its own key"
        )
    signature = inspect.signature(original)
    check_fields(guard, signature, original)
    parameters = list(signature.parameters.values())
    spec = Spec(
        function=original,
        signature=signature,
        guards=guards,
        emit=all(g.emit for g in guards),
        first_parameter=parameters[0].name if parameters else None,
        var_keyword=next(
            (p.name for p in parameters if p.kind is inspect.Parameter.VAR_KEYWORD), None
        ),
    )

    def run_guarded(*args: Any, **kwargs: Any) -> Any:
        task = _unproxied(get_current_task())
        bound = _binds_task(task, run_guarded)
        return _Execution(task, spec, bound).run(args, kwargs)

    functools.update_wrapper(run_guarded, original)
    # Celery checks call arguments against this signature (task.__header__).
    run_guarded.__signature__ = signature  # type: ignore[attr-defined]
    setattr(run_guarded, SPEC_ATTRIBUTE, spec)
    connect_decorated_hooks()
    _connect_publish_hook()
    return run_guarded


def _unproxied(task: Any) -> Any:
    """The task itself when Celery hands over a lazy proxy (an app not yet finalized)."""
    resolve = getattr(task, "_get_current_object", None)
    return task if resolve is None else resolve()


_binding_cache: dict[tuple[type, Callable[..., Any]], bool] = {}


def _binds_task(task: Any, wrapper: Callable[..., Any]) -> bool:
    """Whether the running task passes itself first (bind=True); checks the decorator order."""
    if task is None:
        raise TypeError(
            f"{wrapper.__qualname__} is decorated with a dflock task decorator and runs only "
            "as a Celery task: put @app.task(...) above the dflock decorator"
        )
    cls = type(task)
    cached = _binding_cache.get((cls, wrapper))
    if cached is not None:
        return cached
    # Celery stores the function as a plain method for bind=True, else as a staticmethod.
    run = inspect.getattr_static(cls, "run")
    bound = not isinstance(run, staticmethod)
    function = run.__func__ if isinstance(run, staticmethod) else run
    if any(f is wrapper for f in wrapped_chain(function)):
        _binding_cache[(cls, wrapper)] = bound
        return bound
    raise TypeError(
        f"{wrapper.__qualname__} is running, but the current Celery task is {task.name!r}: "
        "a function decorated with a dflock task decorator must itself be the task "
        "(@app.task(...) directly above the dflock decorator)"
    )


# -- one run ------------------------------------------------------------------------------


class _Execution:
    """One run of a decorated task: acquire, run the body, release, announce."""

    def __init__(self, task: Any, spec: Spec, bound: bool) -> None:
        self.task = task
        self.request = task.request
        self.spec = spec
        self.bound = bound
        self.leases: list[SyncLease] = []  # held, in acquisition order
        self.keys: list[str] = []
        self._early_loss: LockLostError | None = None

    def run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        started = time.monotonic()
        token = _current.set(self)
        try:
            try:
                granted = self._acquire(args, kwargs)
                # A skipped run returns a result of its own: None would look like a run.
                result = (
                    self.spec.function(*args, **kwargs) if granted else skipped_result(self.keys)
                )
            except BaseException as exc:
                loss = self._release()
                if not isinstance(exc, Exception):
                    # SystemExit, KeyboardInterrupt: the process is going away (terminate,
                    # cold shutdown); the worker's main process announces that end.
                    raise
                outcome = classify(exc)
                if outcome == "failed" and _will_autoretry(self.task, exc):
                    outcome = "retried"  # Celery's autoretry_for retries it once we return
                if loss is not None and outcome in ("failed", "succeeded"):
                    self._announce("lost", loss, started)
                    raise loss from exc
                self._announce(outcome, exc, started)
                raise
            loss = self._release()
            if loss is not None:
                self._announce("lost", loss, started)
                raise loss
            self._announce("succeeded" if granted else "skipped", None, started)
            return result
        finally:
            _current.reset(token)

    def _acquire(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Take every guard's lease, outermost first; False when the run is to be skipped."""
        task = self.task
        client = get_client(task.app)
        call_args = args[1:] if self.bound else args
        arguments = _Arguments(self, args, kwargs)
        for guard in self.spec.guards:
            key = guard.key_for(task.name, arguments, call_args, kwargs)
            self.keys.append(key)
            handle = guard.handle(client, key)
            timeout = guard.wait_s(client.settings)
            try:
                granted = handle.acquire(timeout)
            except ServerUnavailable as exc:
                raise self._retry(guard, exc) from None
            if granted:
                self.leases.append(handle)
                continue
            busy = handle.timeout_error(timeout)
            if guard.on_busy == "skip":
                log.info("task %s[%s] skipped: %s", task.name, self.request.id, busy)
                return False
            if guard.on_busy == "retry":
                raise self._retry(guard, busy)
            raise busy
        return True

    def _retry(self, guard: Guard, exc: BaseException) -> BaseException:
        # Task.retry raises Retry itself (or `exc` once max_retries is reached); any
        # lease already held goes back before the retry is published.
        retry = self.task.retry(exc=exc, countdown=guard.countdown(self.task))
        return cast(BaseException, retry)

    def release_before_publish(self) -> None:
        self._early_loss = self._release()

    def _release(self) -> LockLostError | None:
        """Give every lease back, innermost first; the first loss found, if any."""
        loss, self._early_loss = self._early_loss, None
        while self.leases:
            lease = self.leases.pop()
            try:
                # Confirmed before the task's result is published: whoever reacts to it
                # (a retry, the next run) must find the key free.
                lease.release(wait=True)
            except LockLostError as exc:
                loss = loss or exc
        return loss

    def _announce(self, outcome: Outcome, exc: BaseException | None, started: float) -> None:
        if self.spec.emit:
            runtime = time.monotonic() - started
            body = payload(
                self.task, self.request, outcome, runtime_s=runtime, exc=exc, keys=self.keys
            )
            emit_outcome(self.task, body)


def _will_autoretry(task: Any, exc: BaseException) -> bool:
    """Whether Celery's `autoretry_for` wrapper, outside ours, will retry after `exc`."""
    retry_for = tuple(getattr(task, "autoretry_for", ()) or ())
    if not retry_for or not isinstance(exc, retry_for):
        return False
    dont = tuple(getattr(task, "dont_autoretry_for", ()) or ())
    if dont and isinstance(exc, dont):
        return False
    retry_kwargs = getattr(task, "retry_kwargs", None) or {}
    max_retries = retry_kwargs.get("max_retries", getattr(task, "max_retries", None))
    return max_retries is None or (task.request.retries or 0) < max_retries


class _Arguments:
    """The task's arguments by name, bound on first use (only templates with fields need them)."""

    __slots__ = ("_args", "_execution", "_kwargs", "_values")

    def __init__(
        self, execution: _Execution, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._execution = execution
        self._args = args
        self._kwargs = kwargs
        self._values: dict[str, Any] | None = None

    def __call__(self) -> Mapping[str, Any]:
        if self._values is None:
            spec = self._execution.spec
            bound = spec.signature.bind(*self._args, **self._kwargs)
            bound.apply_defaults()
            values = dict(bound.arguments)
            if self._execution.bound and spec.first_parameter is not None:
                values.pop(spec.first_parameter, None)
            if spec.var_keyword is not None:
                values.update(values.pop(spec.var_keyword, {}))
            self._values = values
        return self._values


_current: ContextVar[_Execution | None] = ContextVar("dflock_celery_execution", default=None)


def current_leases() -> tuple[SyncLease, ...]:
    """Every lease the running task holds, outermost decorator first."""
    execution = _current.get()
    if execution is None or not execution.leases:
        raise RuntimeError(
            "no dflock lease is held here: current_lease() works inside the body of a task "
            "decorated with @single_instance or @dflock_semaphore, while it runs"
        )
    return tuple(execution.leases)


def current_lease() -> SyncLease:
    """The lease the running task holds (with stacked decorators, the innermost one's).

    `current_lease().fence` is the grant's fencing token: pass it with every write
    the lease protects, and let the store refuse a smaller one.
    """
    return current_leases()[-1]


def ensure_held() -> None:
    """Raise LockLostError now if a lease of the running task was lost.

    Long tasks call it before a side effect, so a lost lease stops the work early
    instead of failing the task only when it ends.
    """
    for lease in current_leases():
        if lease.lost:
            raise LockLostError(
                f"the lease on {lease.name!r} was lost while the task ran", key=lease.name
            )


def _release_before_retry(
    sender: object = None, body: object = None, headers: Mapping[str, Any] | None = None, **_: Any
) -> None:
    """`before_task_publish`: a running task republishing its own id is retrying."""
    execution = _current.get()
    if execution is None or not execution.leases:
        return
    task_id = (headers or {}).get("id")
    if task_id is None and isinstance(body, Mapping):  # task message protocol 1
        task_id = body.get("id")
    if task_id is not None and task_id == execution.request.id:
        execution.release_before_publish()


_publish_hook_lock = threading.Lock()
_publish_hook_connected = False


def _connect_publish_hook() -> None:
    global _publish_hook_connected
    with _publish_hook_lock:
        if not _publish_hook_connected:
            before_task_publish.connect(
                _release_before_retry, weak=False, dispatch_uid="dflock.celery.retry_release"
            )
            _publish_hook_connected = True
