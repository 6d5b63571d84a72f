"""The primitives of the generated sync sources, twins of `_async/_runtime.py`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

sleep = time.sleep


def each(calls: Sequence[Callable[[], T]]) -> list[T | BaseException]:
    """Run the calls one after the other; each one's result or exception, in order."""
    results: list[T | BaseException] = []
    for call in calls:
        try:
            results.append(call())
        except Exception as exc:
            results.append(exc)
    return results


class SyncSlots:
    """A counting gate: how many connections a pool may have open."""

    def __init__(self, count: int) -> None:
        self._gate = threading.Semaphore(count)

    def take(self, timeout_s: float) -> bool:
        return self._gate.acquire(timeout=timeout_s)

    def give(self) -> None:
        self._gate.release()


def current_owner() -> object:
    """Who holds a reentrant lock here: the thread (the async twin: the running task)."""
    return threading.get_ident()
