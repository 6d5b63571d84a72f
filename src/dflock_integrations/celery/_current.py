"""What the body of a decorated task can ask about the leases its run holds."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

from dflock_integrations.client import SyncLease, SyncMultiLockHandle
from dflock_integrations.errors import LockLostError

if TYPE_CHECKING:
    from dflock_integrations.celery._run import Run

# The run in progress in this context (set by the run path for the body's duration).
RUNNING: ContextVar[Run | None] = ContextVar("dflock_celery_run", default=None)

# What a decorator holds while the body runs (a rate-limit permit is no lease: not here).
TaskLease = SyncLease | SyncMultiLockHandle


def current_leases() -> tuple[TaskLease, ...]:
    """Every lease the running task holds, outermost decorator first."""
    run = RUNNING.get()
    leases = (
        ()
        if run is None
        else tuple(h for h in run.held if isinstance(h, (SyncLease, SyncMultiLockHandle)))
    )
    if not leases:
        raise RuntimeError(
            "no dflock lease is held here: current_lease() works inside the body of a task "
            "decorated with @single_instance, @dflock_semaphore or @dflock_multilock, while "
            "it runs"
        )
    return leases


def current_lease() -> TaskLease:
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
