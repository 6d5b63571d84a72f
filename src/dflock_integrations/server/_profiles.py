"""How each upstream dflockd generation answers, as switches the embedded server obeys.

Users run servers from v1.10 to v2.1; a client tested only against the friendliest
of them breaks on the others (random tokens read as fences, `ping` refused, no
signals). A profile names a generation and derives every difference from upstream's
changelog and source, so the embedded server can answer as that generation does.
"""

from __future__ import annotations

from dataclasses import dataclass

# The generations `--compat` accepts, oldest first; "default" is the embedded server's own.
GENERATIONS = ("1.10", "1.11", "1.12", "1.13", "1.14", "1.15", "1.16", "2.0", "2.1")
DEFAULT = "default"
CLUSTER = "cluster"
CHOICES = (DEFAULT, *GENERATIONS, CLUSTER)


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


@dataclass(frozen=True)
class Profile:
    """One generation's observable behaviour; `Profile.named("1.10")`."""

    name: str
    fencing_tokens: bool  # first 16 hex digits count grants (v2.1)
    ping: bool  # `ping` answers `ok` (v1.14); before, it is an unknown command
    signals: bool  # listen / unlisten / signal (v1.11 to v1.16)
    separate_lock_and_semaphore_keys: bool  # v1.14: `l k` and `sl k` no longer collide
    notices_close_while_blocked: bool  # v1.15: a blocked `l` sees its client leave
    big_lines: bool  # v1.15: auth token and signal payload lines up to 64 KiB
    drains: bool  # v1.16: requests during shutdown answer `error_draining`
    cluster: bool  # unreleased cluster mode: stats carry a `cluster` block

    @classmethod
    def named(cls, name: str) -> Profile:
        if name == DEFAULT:
            # v1.16's behaviour with v2.1's fencing tokens: every feature the package uses.
            return cls(DEFAULT, True, True, True, True, True, True, True, False)
        if name == CLUSTER:
            return cls(CLUSTER, True, True, False, True, True, True, True, True)
        if name not in GENERATIONS:
            raise ValueError(f"unknown dflockd generation {name!r}; expected one of {CHOICES}")
        v = _version(name)
        return cls(
            name,
            fencing_tokens=v >= (2, 1),
            ping=v >= (1, 14),
            signals=(1, 11) <= v < (2, 0),
            separate_lock_and_semaphore_keys=v >= (1, 14),
            notices_close_while_blocked=v >= (1, 15),
            big_lines=v >= (1, 15),
            drains=v >= (1, 16),
            cluster=False,
        )

    def __str__(self) -> str:
        return self.name
