"""Arithmetic of leases, waits and deadlines; no I/O, shared by every handle."""

from __future__ import annotations

import math
import time

# Below this a renewal loop would spend more time renewing than holding.
MIN_RENEW_INTERVAL_S = 0.05
# The server's idle clock and ours start a moment apart; stay well inside it.
IDLE_SAFETY_RATIO = 0.5
# How much later than the wait it was asked for a server may answer before it counts
# as not answering: `acquire(t)` ends within t + this, whatever the server does.
ANSWER_GRACE_S = 0.75


def renew_interval(lease_s: float, renew_ratio: float, server_read_timeout_s: float) -> float:
    """Seconds between renewals: inside the lease and inside the server's idle limit."""
    return max(
        MIN_RENEW_INTERVAL_S,
        min(lease_s * renew_ratio, server_read_timeout_s * IDLE_SAFETY_RATIO),
    )


def renew_answer_timeout(lease_s: float, interval_s: float) -> float:
    """How long a renewal may wait for its answer before the lease counts as lost."""
    # The answer must come while the lease still runs, whatever the server is doing.
    return max(0.2, min(5.0, (lease_s - interval_s) * 0.9))


def wire_timeout(timeout_s: float) -> tuple[int, float | None]:
    """The protocol takes whole seconds: round up, and cut a fractional wait short ourselves."""
    if not math.isfinite(timeout_s) or timeout_s < 0:
        raise ValueError(f"acquire timeout must be a finite number >= 0, got {timeout_s!r}")
    whole = math.ceil(timeout_s)
    return whole, (None if whole == timeout_s else timeout_s)


class Deadline:
    """A point on the monotonic clock that every step of one call counts down to."""

    __slots__ = ("at",)

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at
