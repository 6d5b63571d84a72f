"""The primitives the async sources use where the sync side needs others.

`scripts/generate_sync.py` turns every name here into its twin in `_sync/_runtime.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

async_sleep = asyncio.sleep


async def async_each(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T | BaseException]:
    """Run the calls concurrently; each one's result or exception, in order."""
    results: list[T | BaseException] = await asyncio.gather(
        *(call() for call in calls), return_exceptions=True
    )
    return results


class AsyncSlots:
    """A counting gate: how many connections a pool may have open."""

    def __init__(self, count: int) -> None:
        self._gate = asyncio.Semaphore(count)

    async def take(self, timeout_s: float) -> bool:
        """One slot, waiting up to `timeout_s` for one to be given back."""
        if not self._gate.locked():
            await self._gate.acquire()
            return True
        try:
            await asyncio.wait_for(self._gate.acquire(), timeout_s)
        except asyncio.TimeoutError:
            return False
        return True

    def give(self) -> None:
        self._gate.release()


def async_current_owner() -> object:
    """Who holds a reentrant lock here: the running task (the sync twin: the thread)."""
    return asyncio.current_task()
