"""What a skipped run returns, so that a caller can tell it from a body that returned None."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MARK = "dflock"


def skipped_result(keys: Sequence[str]) -> dict[str, Any]:
    """`{"dflock": "skipped", "keys": [...]}`: JSON-safe for any result backend."""
    return {MARK: "skipped", "keys": list(keys)}


def is_skipped(result: Any) -> bool:
    """Whether a run was skipped (`on_locked`, `on_full`, `on_busy` or `on_limited` was
    "skip" and found its key busy or its rate spent).

    Give it what `.get()` returned, or the `AsyncResult` itself (True once it has
    succeeded with the skip result). A body that returned None is not skipped.
    """
    if hasattr(result, "successful") and hasattr(result, "result"):  # an AsyncResult
        return bool(result.successful()) and is_skipped(result.result)
    return isinstance(result, dict) and result.get(MARK) == "skipped"
