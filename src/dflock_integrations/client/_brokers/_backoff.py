"""Reconnecting with backoff, as every listener does after losing its transport, and
stopping a listener's task for good."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("dflock_integrations")

FIRST_DELAY_S = 0.05
MAX_DELAY_S = 2.0


async def reconnect(attempt: Callable[[], Awaitable[None]], what: str) -> None:
    """Call `attempt` until it succeeds, waiting 0.05 s, then twice as long each time
    up to 2 s: quick after a blip, gentle on a broker that is down for a while."""
    delay = FIRST_DELAY_S
    while True:
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_DELAY_S)
        try:
            await attempt()
        except Exception as exc:
            log.debug("dflock: reconnecting to %s failed: %s", what, exc)
            continue
        return


async def stop(task: asyncio.Task[None] | None) -> None:
    """Cancel `task` and wait until it has ended.

    Cancelled again every 50 ms: redis-py can swallow a cancellation that arrives as
    its own read timeout fires (it then reads on), and a listener must still stop.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.05)
    if not task.cancelled() and task.exception() is not None:
        log.debug("dflock: a listener task ended with %r", task.exception())
