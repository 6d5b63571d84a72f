"""What a lock or semaphore dependency gives the endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class HeldLease(Protocol):
    """What a lock or semaphore dependency gives the endpoint (an `AsyncLease`, or a
    `SkippedLease` while locking is off). Pass `fence` to storage that checks it."""

    @property
    def name(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def limit(self) -> int | None: ...
    @property
    def token(self) -> str | None: ...
    @property
    def fence(self) -> int | None: ...
    @property
    def held(self) -> bool: ...
    @property
    def lost(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class SkippedLease:
    """Given instead of a lease while locking is switched off: nothing is held."""

    name: str
    limit: int | None = None
    token: None = None
    fence: None = None
    held: bool = False
    lost: bool = False

    @property
    def key(self) -> str:
        return self.name
