"""The run path every dflock task decorator shares: key, take, run, release, outcome.

`wrap(function, admission)` makes the task's function; each call is one `Run`:

1. the key of every admission, from the task's arguments (`TaskKey.for_run`);
2. take each, outermost decorator first (`Admission.take`); a busy one skips the
   run, retries it, or fails it, as its `on_busy` says; no server: a retry;
3. the body, with `current_lease()` answering inside it (`_current.py`);
4. release, innermost first, confirmed by the server before the task's result is
   published; a lease lost meanwhile fails the run, whatever the body returned;
5. the outcome signal (`_outcomes.py`).

The lease is taken inside the worker when the task starts, whoever sent it (`delay`,
beat, `send_task`, canvas), and given back when the body ends, whatever the end. The
class Celery builds is untouched: any `base=` still works and the task keeps its
signature. A task that retries gives its leases back before the retry message is
published (a `before_task_publish` receiver), so a retry never finds its own lease.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from celery.signals import before_task_publish

from dflock_integrations.celery._admission import Admission, Held
from dflock_integrations.celery._config import get_client
from dflock_integrations.celery._current import RUNNING
from dflock_integrations.celery._outcomes import (
    Outcome,
    classify,
    connect_worker_hooks,
    emit_outcome,
    payload,
)
from dflock_integrations.celery._skipped import skipped_result
from dflock_integrations.celery._tasks import (
    SPEC_ATTRIBUTE,
    binds_task,
    running_task,
    will_autoretry,
)
from dflock_integrations.errors import LockLostError, LockTimeout, ServerUnavailable

log = logging.getLogger("dflock_integrations.celery")


@dataclass(frozen=True, slots=True)
class Spec:
    """What a decorated function carries: the original function and its admissions."""

    function: Callable[..., Any]
    signature: inspect.Signature
    admissions: tuple[Admission, ...]  # outermost decorator first; taken in this order
    emit: bool
    first_parameter: str | None  # `self` of a bind=True task
    var_keyword: str | None  # the name of **kwargs, whose items a template may use


def wrap(function: Callable[..., Any], admission: Admission) -> Callable[..., Any]:
    """`function` (or a function already wrapped) running under `admission` too."""
    inner: Spec | None = getattr(function, SPEC_ATTRIBUTE, None)
    original = inner.function if inner is not None else function
    admissions = (admission, *inner.admissions) if inner is not None else (admission,)
    if sum(a.key.source is None for a in admissions) > 1:
        raise ValueError(
            "stacked dflock decorators would all use the task's name as their key; "
            "give each one its own key"
        )
    signature = inspect.signature(original)
    admission.key.check_fields(signature, original)
    parameters = list(signature.parameters.values())
    spec = Spec(
        function=original,
        signature=signature,
        admissions=admissions,
        emit=all(a.emit for a in admissions),
        first_parameter=parameters[0].name if parameters else None,
        var_keyword=next(
            (p.name for p in parameters if p.kind is inspect.Parameter.VAR_KEYWORD), None
        ),
    )

    def run_admitted(*args: Any, **kwargs: Any) -> Any:
        task = running_task()
        return Run(task, spec, binds_task(task, run_admitted)).run(args, kwargs)

    functools.update_wrapper(run_admitted, original)
    # Celery checks call arguments against this signature (task.__header__).
    run_admitted.__signature__ = signature  # type: ignore[attr-defined]
    setattr(run_admitted, SPEC_ATTRIBUTE, spec)
    # dispatch_uid makes connecting again a no-op.
    connect_worker_hooks()
    before_task_publish.connect(
        _release_before_retry, weak=False, dispatch_uid="dflock.celery.retry_release"
    )
    return run_admitted


class Run:
    """One run of a decorated task: take, run the body, release, announce."""

    def __init__(self, task: Any, spec: Spec, bound: bool) -> None:
        self.task = task
        self.request = task.request
        self.spec = spec
        self.bound = bound
        self.held: list[Held] = []  # in the order taken
        self.keys: list[str] = []
        self._early_loss: LockLostError | None = None

    def run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        started = time.monotonic()
        token = RUNNING.set(self)
        try:
            try:
                admitted = self._take(args, kwargs)
                # A skipped run returns a result of its own: None would look like a run.
                result = (
                    self.spec.function(*args, **kwargs) if admitted else skipped_result(self.keys)
                )
            except BaseException as exc:
                loss = self._release()
                if not isinstance(exc, Exception):
                    # SystemExit, KeyboardInterrupt: the process is going away (terminate,
                    # cold shutdown); the worker's main process announces that end.
                    raise
                outcome = classify(exc)
                if outcome == "failed" and will_autoretry(self.task, exc):
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
            self._announce("succeeded" if admitted else "skipped", None, started)
            return result
        finally:
            RUNNING.reset(token)

    def _take(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Take every admission, outermost first; False when the run is to be skipped."""
        task = self.task
        client = get_client(task.app)
        call_args = args[1:] if self.bound else args
        arguments = _Arguments(self, args, kwargs)
        for admission in self.spec.admissions:
            key = admission.key.for_run(task.name, arguments, call_args, kwargs)
            self.keys.append(key)
            try:
                self.held.append(admission.take(client, key))
                continue
            except ServerUnavailable as exc:
                raise self._retry(admission, exc) from None
            except LockTimeout as exc:
                busy = exc  # handled below, outside the except clause: nothing to chain
            if admission.on_busy == "skip":
                log.info("task %s[%s] skipped: %s", task.name, self.request.id, busy)
                return False
            if admission.on_busy == "retry":
                raise self._retry(admission, busy)
            raise busy
        return True

    def _retry(self, admission: Admission, exc: BaseException) -> BaseException:
        # Task.retry raises Retry itself (or `exc` once max_retries is reached); any
        # lease already held goes back before the retry is published.
        retry = self.task.retry(exc=exc, countdown=admission.countdown(self.task, exc))
        return cast(BaseException, retry)

    def release_before_publish(self) -> None:
        self._early_loss = self._release()

    def _release(self) -> LockLostError | None:
        """Give everything held back, innermost first; the first loss found, if any."""
        loss, self._early_loss = self._early_loss, None
        while self.held:
            held = self.held.pop()
            try:
                # Confirmed before the task's result is published: whoever reacts to it
                # (a retry, the next run) must find the key free.
                held.release(wait=True)
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


class _Arguments:
    """The task's arguments by name, bound on first use (only templates with fields need them)."""

    __slots__ = ("_args", "_kwargs", "_run", "_values")

    def __init__(self, run: Run, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._run = run
        self._args = args
        self._kwargs = kwargs
        self._values: dict[str, Any] | None = None

    def __call__(self) -> Mapping[str, Any]:
        if self._values is None:
            spec = self._run.spec
            bound = spec.signature.bind(*self._args, **self._kwargs)
            bound.apply_defaults()
            values = dict(bound.arguments)
            if self._run.bound and spec.first_parameter is not None:
                values.pop(spec.first_parameter, None)
            if spec.var_keyword is not None:
                values.update(values.pop(spec.var_keyword, {}))
            self._values = values
        return self._values


def _release_before_retry(
    sender: object = None, body: object = None, headers: Mapping[str, Any] | None = None, **_: Any
) -> None:
    """`before_task_publish`: a running task republishing its own id is retrying."""
    run = RUNNING.get()
    if run is None or not run.held:
        return
    task_id = (headers or {}).get("id")
    if task_id is None and isinstance(body, Mapping):  # task message protocol 1
        task_id = body.get("id")
    if task_id is not None and task_id == run.request.id:
        run.release_before_publish()
