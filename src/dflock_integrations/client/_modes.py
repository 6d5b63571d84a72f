"""`LockMode`: how a multilock is held."""

from __future__ import annotations

import enum


class LockMode(enum.Enum):
    """Held by many at once (`SHARED`), or by one alone (`EXCLUSIVE`)."""

    SHARED = "shared"
    EXCLUSIVE = "exclusive"

    @classmethod
    def of(cls, value: LockMode | str) -> LockMode:
        """A mode from itself or its name (`"shared"`, `"exclusive"`)."""
        if isinstance(value, LockMode):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ValueError(
                f"lock mode {value!r}: expected LockMode.SHARED or LockMode.EXCLUSIVE "
                "('shared' or 'exclusive')"
            ) from None
