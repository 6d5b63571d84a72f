"""What the run path needs to know about Celery tasks in general.

- `running_task`: the task running now, the object itself (Celery may hand over a proxy).
- `binds_task`: whether the task passes itself first (bind=True); checks the decorator
  order on the way.
- `will_autoretry`: whether Celery's `autoretry_for` retries after an exception.
- `wrapped_chain`: a function, then what it wraps, and so on.
- `spec_of`: what a dflock decorator left on a task's function (`SPEC_ATTRIBUTE`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from celery import current_task

# The attribute a function decorated by a dflock task decorator carries (`_run.Spec`).
SPEC_ATTRIBUTE = "__dflock_spec__"
_MAX_WRAPPED = 32  # a __wrapped__ chain could loop

_binding_cache: dict[tuple[type, Callable[..., Any]], bool] = {}


def running_task() -> Any:
    """The task running now, or None; the task itself when Celery hands over a lazy
    proxy (an app not yet finalized)."""
    task = current_task._get_current_object()
    resolve = getattr(task, "_get_current_object", None)
    return task if resolve is None else resolve()


def binds_task(task: Any, wrapper: Callable[..., Any]) -> bool:
    """Whether the running `task` passes itself first (bind=True) to `wrapper`.

    Raises TypeError when `wrapper` runs outside a task, or inside a task that is not
    its own (the dflock decorator is not directly under @app.task).
    """
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


def will_autoretry(task: Any, exc: BaseException) -> bool:
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


def wrapped_chain(function: Any) -> Iterator[Any]:
    """`function`, then what it wraps (`__wrapped__`), and so on; bounded."""
    for _ in range(_MAX_WRAPPED):
        if function is None:
            return
        yield function
        function = getattr(function, "__wrapped__", None)


def spec_of(task: Any) -> Any:
    """The spec a dflock decorator left on `task`'s function, or None."""
    for function in wrapped_chain(getattr(task.run, "__func__", task.run)):
        spec = getattr(function, SPEC_ATTRIBUTE, None)
        if spec is not None:
            return spec
    return None
