"""When a run that found its key busy (or no server) runs again: `RetryPolicy`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from celery.utils.time import get_exponential_backoff_interval
from typing_extensions import TypedDict

from dflock_integrations.options import seconds, whole_number

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
