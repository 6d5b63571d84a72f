"""A private event loop in a daemon thread, so blocking code can use the async client.

The sync client forwards every call here instead of re-implementing the protocol,
renewal and listeners with threads: the logic exists once, and a held lease is
renewed by this loop while the calling thread does its work.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# After the caller gives up (Ctrl-C), how long cancellation may take to clean up.
CANCEL_GRACE_S = 5.0


class Portal:
    def __init__(self, name: str = "dflock-portal") -> None:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name=name, daemon=True)
        self._thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(ready.set)
        self._loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the portal's loop and block for its result."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a sync dflock call cannot be made from the client's own loop")
        finished = threading.Event()

        async def run() -> T:
            try:
                return await coro
            finally:
                finished.set()

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result()
        except BaseException:
            # Interrupted (KeyboardInterrupt, a signal handler's exception): cancel the
            # coroutine and wait for its cleanup, so nothing stays held or queued.
            future.cancel()
            finished.wait(CANCEL_GRACE_S)
            raise

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CANCEL_GRACE_S)
        if not self._thread.is_alive():
            self._loop.close()
