"""Modules kept at their old paths for one release after a move."""

from __future__ import annotations

import warnings


def moved(old: str, new: str, *, instead: str = "") -> None:
    """Warn that module `old` moved to `new`; called by the alias left at `old`."""
    advice = instead or f"import from {new}"
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release: {advice}",
        DeprecationWarning,
        stacklevel=3,
    )
