"""The options every adapter takes (semaphore limits, leases, timeouts), and their checks.

Each adapter checks its options where they are written (a decorator, a dependency,
a middleware rule), so a bad value fails at import or start-up, never a request or
a task. `name` is how the option is written there, e.g. `@single_instance: lease_ttl_s`.

`LeaseOptions` names the options of a lock or semaphore once, for the signatures of
every adapter that takes them (`**options: Unpack[LeaseOptions]`); an adapter with
more options extends it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from typing_extensions import TypedDict


class LeaseOptions(TypedDict, total=False):
    """A lock's or semaphore's options; left out (or None): the client's settings."""

    acquire_timeout_s: float | None  # how long to wait for the grant, in FIFO order
    lease_ttl_s: int | None  # the lease asked for with each grant and renewal, in seconds


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


def check_option_names(options: Mapping[str, object], allowed: type, where: str = "") -> None:
    """TypeError naming an option `allowed` (a TypedDict such as `LeaseOptions`) lacks."""
    names = allowed.__required_keys__ | allowed.__optional_keys__  # type: ignore[attr-defined]
    unknown = sorted(set(options) - names)
    if unknown:
        prefix = f"{where}: " if where else ""
        raise TypeError(
            f"{prefix}unknown option {unknown[0]!r}; the options are {', '.join(sorted(names))}"
        )
