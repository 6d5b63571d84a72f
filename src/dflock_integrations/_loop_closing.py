"""Close something when its event loop shuts down; shared by the Django and Starlette clients.

An `AsyncDflockClient`'s connections belong to the loop that opened them, and asyncio
has no "loop is closing" callback. But `asyncio.run`, `asyncio.Runner`, uvicorn and
anyio call `loop.shutdown_asyncgens()` before closing a loop, which finalises every
async generator started on it: one whose `finally` closes the client does the job,
while the loop can still run the close.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

_pending: set[asyncio.Task[Any]] = set()


async def _closer(close: Callable[[], Awaitable[None]]) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await close()


def close_at_loop_shutdown(close: Callable[[], Awaitable[None]]) -> AsyncGenerator[None, None]:
    """Arrange `await close()` for when the running loop shuts down.

    Returns the generator doing it; `close_now(loop, generator)` runs it earlier.
    Call from a coroutine: the generator registers with the running loop.
    """
    closer = _closer(close)
    step = closer.__anext__()  # registers the generator with the running loop
    with contextlib.suppress(StopIteration):
        step.send(None)  # runs it to its `yield` without suspending the caller
    return closer


def close_now(loop: asyncio.AbstractEventLoop, closer: AsyncGenerator[None, None]) -> None:
    """Run `closer`'s close on `loop`, soon; call on `loop`'s own thread."""
    task = loop.create_task(closer.aclose())
    _pending.add(task)  # the loop keeps only a weak reference to a task
    task.add_done_callback(_pending.discard)
