"""What a dependency gives the endpoint: a held lease (`HeldLease`, the HTTP layer's), or a
`SkippedLease` while locking is off."""

from __future__ import annotations

from dataclasses import dataclass

from dflock_integrations._http.hold import HeldLease

__all__ = ["HeldLease", "SkippedLease"]


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
