"""Checks for the options every adapter takes: semaphore limits, leases, timeouts.

Each adapter checks its options where they are written (a decorator, a dependency,
a middleware rule), so a bad value fails at import or start-up, never a request or
a task. `name` is how the option is written there, e.g. `@single_instance: lease_ttl_s`.
"""

from __future__ import annotations

import math


def whole_number(value: object, name: str) -> int:
    """`value` if it is an int >= 1 (a bool is not); else ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return value


def seconds(value: object, name: str) -> float:
    """`value` as a float if it is a finite number >= 0; else ValueError naming `name`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def check_lease_options(
    *,
    limit: object = None,
    acquire_timeout_s: object = None,
    lease_ttl_s: object = None,
    where: str = "",
) -> None:
    """Check the options a lock or semaphore takes; None means "the settings' value"."""
    prefix = f"{where}: " if where else ""
    if limit is not None:
        whole_number(limit, f"{prefix}limit")
    if lease_ttl_s is not None:
        whole_number(lease_ttl_s, f"{prefix}lease_ttl_s")
    if acquire_timeout_s is not None:
        seconds(acquire_timeout_s, f"{prefix}acquire_timeout_s")
