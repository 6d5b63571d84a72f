"""Reconnecting with backoff, as every listener does after losing its transport."""

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
