"""`@dflock_rate_limit`'s admission: a permit of the key's rate, shared by every worker.

A permit is never given back: the server frees its slot when its period ends (see
`client/_ratelimit.py`). A run over budget is retried after the limiter's retry-after
estimate, so it comes back when a permit is likely, not after a fixed countdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from typing_extensions import Unpack

from dflock_integrations.celery._admission import Common, OnBusy
from dflock_integrations.celery._retry import RetryOptions
from dflock_integrations.client import Rate, SyncDflockClient
from dflock_integrations.errors import RateLimited
from dflock_integrations.settings import DflockSettings

DECORATOR = "@dflock_rate_limit"
ON_LIMITED: Final[tuple[OnBusy, ...]] = ("retry", "wait", "skip", "raise")


class RateLimitOptions(RetryOptions, total=False):
    """`@dflock_rate_limit`'s options: a permit has no lease of its own to set."""

    acquire_timeout_s: float | None  # how long a run waits for a permit, in FIFO order
    emit: bool  # announce the run's outcome as a signal; True by default


@dataclass(frozen=True, slots=True)
class Permit:
    """An admission: its slot is freed by its period ending, never by the run."""

    name: str
    lost: bool = False

    def release(self, *, wait: bool = False) -> None:
        """Nothing to give back: giving the slot back early would break the rate."""


@dataclass(frozen=True, slots=True)
class RateLimitAdmission(Common):
    """A permit of `rate` for the run's key; `on_busy` is the decorator's `on_limited`."""

    rate: Rate

    def wait_s(self, settings: DflockSettings) -> float:
        """How long to wait for a permit, in FIFO order: only "wait" waits unless told."""
        if self.acquire_timeout_s is not None:
            return self.acquire_timeout_s
        return settings.acquire_timeout_s if self.on_busy == "wait" else 0.0

    def take(self, client: SyncDflockClient, key: str) -> Permit:
        # The client gives the same limiter run after run: it remembers its admissions
        # (an exact retry-after) and parks them all on one connection.
        limiter = client.rate_limiter(key, self.rate, label=self.key.label(key))
        limiter.acquire(self.wait_s(client.settings))  # RateLimited when over budget
        return Permit(key)

    def countdown(self, task: Any, reason: BaseException) -> float:
        if isinstance(reason, RateLimited):
            return max(0.0, reason.retry_after_s)
        return self.retry.countdown(task)  # no server


def rate_limit_admission(
    key: object, rate: str | Rate, *, on_limited: str, **options: Unpack[RateLimitOptions]
) -> RateLimitAdmission:
    """A checked `RateLimitAdmission`; every error names the decorator and the option."""
    common = Common.checked(
        DECORATOR, key, options, RateLimitOptions, on_limited=(on_limited, ON_LIMITED)
    )
    try:
        checked_rate = Rate.parse(rate)
    except ValueError as exc:
        raise ValueError(f"{DECORATOR}: {exc}") from None
    return RateLimitAdmission(**common.parts(), rate=checked_rate)
