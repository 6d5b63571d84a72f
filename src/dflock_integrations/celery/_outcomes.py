"""Outcome signals: `{key_prefix}celery.{outcome}.{task_name}` when a task ends.

Decorated tasks announce their own outcome from inside the run (they alone know
`skipped` and `lost`). Celery's signals cover what no task body sees: a worker
child killed mid-task, a hard time limit, a revoked task. `install_outcome_signals`
extends the same announcements to every other task of an app.
"""

from __future__ import annotations

import collections
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

from celery.exceptions import Ignore, Reject, Retry, TimeLimitExceeded, WorkerLostError
from celery.signals import (
    task_failure,
    task_prerun,
    task_retry,
    task_revoked,
    task_success,
    worker_init,
)
from celery.worker import state as worker_state

from dflock_integrations.celery._config import check_settings_at_worker_start, get_client
from dflock_integrations.celery._sender import sender
from dflock_integrations.celery._tasks import spec_of
from dflock_integrations.errors import LockLostError

log = logging.getLogger("dflock_integrations.celery")

Outcome = Literal["succeeded", "failed", "retried", "skipped", "lost", "revoked"]
OUTCOMES: Final[tuple[Outcome, ...]] = (
    "succeeded",
    "failed",
    "retried",
    "skipped",
    "lost",
    "revoked",
)
# Failures reported by the worker's main process: the task's own process is gone.
PARENT_FAILURES: Final = (WorkerLostError, TimeLimitExceeded)

_hostname = socket.gethostname()
# The worker's node name (`celery@host`), learnt at worker_init: the main process
# announces ends whose request carries no hostname.
_node_name: str | None = None


def outcome_channel(outcome: str, task_name: str) -> str:
    """`celery.{outcome}.{task_name}`; the client prepends the key prefix."""
    return f"celery.{outcome}.{task_name}"


def classify(exc: BaseException) -> Outcome:
    """The outcome of a run that ended with `exc`."""
    if isinstance(exc, Retry):
        return "retried"
    if isinstance(exc, LockLostError):
        return "lost"
    if isinstance(exc, Reject):
        return "retried" if exc.requeue else "failed"
    if isinstance(exc, Ignore):
        return "succeeded"  # e.g. Task.replace(): ended on purpose, without a state update
    return "failed"


def exception_name(outcome: Outcome, exc: BaseException | None) -> str | None:
    """The exception type named in a payload: the failure, or the cause of a retry."""
    if exc is None or outcome in ("succeeded", "skipped"):
        return None
    if isinstance(exc, Retry):
        cause = exc.exc
        return type(cause).__name__ if isinstance(cause, BaseException) else None
    return type(exc).__name__


def payload(
    task: Any,
    request: Any,
    outcome: Outcome,
    *,
    runtime_s: float | None,
    exc: BaseException | None = None,
    keys: Sequence[str] = (),
    task_id: str | None = None,
) -> dict[str, object]:
    """The JSON body of an outcome signal."""
    return {
        "task_id": task_id or getattr(request, "id", None),
        "task_name": task.name,
        "outcome": outcome,
        "runtime_s": None if runtime_s is None else round(runtime_s, 6),
        "worker": getattr(request, "hostname", None) or _node_name or _hostname,
        "retries": getattr(request, "retries", 0) or 0,
        "exception": exception_name(outcome, exc),
        "keys": list(keys),
    }


def emit_outcome(task: Any, body: dict[str, object]) -> None:
    """Queue one outcome signal for the sender thread. Failures are logged, never raised."""
    channel = outcome_channel(str(body["outcome"]), task.name)
    try:
        client = get_client(task.app)
    except Exception as exc:  # e.g. settings that cannot work: the task is not to fail for it
        log.warning(
            "dflock outcome signal %s for task %s not sent: %r", channel, body["task_id"], exc
        )
        return
    sender.submit(client, channel, body)


def decorated_emits(task: Any) -> bool | None:
    """None for a task without dflock decorators, else whether they announce outcomes."""
    spec = spec_of(task)
    return None if spec is None else bool(spec.emit)


# -- the worker's main process: ends that no task body sees ------------------------------


def _on_parent_failure(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    **_: Any,
) -> None:
    if sender is None or not isinstance(exception, PARENT_FAILURES) or not decorated_emits(sender):
        return
    if task_id is not None and task_id in worker_state.revoked:
        # revoke(terminate=True): the child's death can also reach Celery as a lost
        # worker; the task was announced `revoked` already, and one end gets one signal.
        return
    if not _first_end(task_id):
        return  # a hard time limit reaches task_failure twice (on_timeout, then on_failure)
    body = payload(sender, sender.request, "failed", runtime_s=None, exc=exception, task_id=task_id)
    emit_outcome(sender, body)


def _on_revoked(sender: Any = None, request: Any = None, **_: Any) -> None:
    if (
        sender is None
        or not decorated_emits(sender)
        or not _first_end(getattr(request, "id", None))
    ):
        return
    emit_outcome(sender, payload(sender, request, "revoked", runtime_s=None))


_RECENT_ENDS = 1000
_recent_ends: collections.OrderedDict[str, None] = collections.OrderedDict()


def _first_end(task_id: str | None) -> bool:
    """False if the worker's main process already announced the end of `task_id`."""
    if task_id is None:
        return True
    if task_id in _recent_ends:
        return False
    _recent_ends[task_id] = None
    if len(_recent_ends) > _RECENT_ENDS:
        _recent_ends.popitem(last=False)
    return True


def _remember_node_name(sender: Any = None, **_: Any) -> None:
    global _node_name
    _node_name = getattr(sender, "hostname", None) or _node_name


def connect_worker_hooks() -> None:
    """Connect the receivers every decorated task relies on (again: a no-op)."""
    # dispatch_uid makes each connect after the first a no-op.
    task_failure.connect(
        _on_parent_failure, weak=False, dispatch_uid="dflock.celery.parent_failure"
    )
    task_revoked.connect(_on_revoked, weak=False, dispatch_uid="dflock.celery.revoked")
    _connect_worker_init()


def _connect_worker_init() -> None:
    worker_init.connect(
        check_settings_at_worker_start, weak=False, dispatch_uid="dflock.celery.check"
    )
    worker_init.connect(_remember_node_name, weak=False, dispatch_uid="dflock.celery.node")


# -- every other task of an app ------------------------------------------------------------


class _AppOutcomes:
    """Receivers announcing the outcome of an app's undecorated tasks."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.started: dict[str, float] = {}  # task id -> time.monotonic() at task_prerun

    def _mine(self, task: Any) -> bool:
        return task is not None and task.app is self.app and decorated_emits(task) is None

    def _runtime(self, task_id: object) -> float | None:
        started = self.started.pop(str(task_id), None)
        return None if started is None else time.monotonic() - started

    def prerun(self, sender: Any = None, task_id: str | None = None, **_: Any) -> None:
        if task_id is not None and self._mine(sender):
            self.started[task_id] = time.monotonic()

    def success(self, sender: Any = None, **_: Any) -> None:
        if self._mine(sender):
            request = sender.request
            runtime = self._runtime(request.id)
            emit_outcome(sender, payload(sender, request, "succeeded", runtime_s=runtime))

    def failure(
        self,
        sender: Any = None,
        task_id: str | None = None,
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        if self._mine(sender):
            if isinstance(exception, PARENT_FAILURES) and not _first_end(task_id):
                return  # announced already (a hard time limit is reported twice)
            outcome: Outcome = "lost" if isinstance(exception, LockLostError) else "failed"
            runtime = self._runtime(task_id)
            body = payload(
                sender, sender.request, outcome, runtime_s=runtime, exc=exception, task_id=task_id
            )
            emit_outcome(sender, body)

    def retry(
        self, sender: Any = None, request: Any = None, reason: object = None, **_: Any
    ) -> None:
        if self._mine(sender):
            exc = reason if isinstance(reason, BaseException) else None
            runtime = self._runtime(getattr(request, "id", None))
            emit_outcome(sender, payload(sender, request, "retried", runtime_s=runtime, exc=exc))

    def revoked(self, sender: Any = None, request: Any = None, **_: Any) -> None:
        if self._mine(sender):
            self.started.pop(str(getattr(request, "id", None)), None)
            emit_outcome(sender, payload(sender, request, "revoked", runtime_s=None))


def install_outcome_signals(app: Any) -> None:
    """Announce the outcome of every task of `app` as a dflock signal.

    Call it where the app is defined, so the worker runs it at start. Tasks decorated
    with `@single_instance` / `@dflock_semaphore` announce their own outcomes and are
    left to their decorators. Calling it again for the same app changes nothing.
    """
    receivers = _AppOutcomes(app)
    uid = f"dflock.celery.outcomes.{id(app)}"
    pairs: tuple[tuple[Any, Callable[..., None]], ...] = (
        (task_prerun, receivers.prerun),
        (task_success, receivers.success),
        (task_failure, receivers.failure),
        (task_retry, receivers.retry),
        (task_revoked, receivers.revoked),
    )
    _connect_worker_init()
    for signal, receiver in pairs:
        # dispatch_uid makes a second call a no-op instead of a second announcement.
        signal.connect(receiver, weak=False, dispatch_uid=uid)
