"""The per-process clients that Django code shares, built from the current `DFLOCK`.

- `get_client()`: one `SyncDflockClient` per process, for views, commands, signal
  handlers and services. It is thread-safe and fork-safe.
- `get_async_client()`: one `AsyncDflockClient` per running event loop. Under ASGI
  that is one per process; under WSGI each async view runs on a loop of its own,
  and its client is closed when that loop shuts down.

Both are replaced by fresh ones when `settings.DFLOCK` changes (override_settings in
tests); the replaced sync client is closed at once, so change settings only between
requests.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from django.core.signals import setting_changed

from dflock_integrations._loop_closing import close_at_loop_shutdown, close_now
from dflock_integrations.client import AsyncDflockClient, SyncDflockClient
from dflock_integrations.django import conf

_lock = threading.Lock()
_sync_client: SyncDflockClient | None = None


@dataclass(eq=False)
class _LoopClient:
    client: AsyncDflockClient
    closer: AsyncGenerator[None]


_loop_clients: dict[asyncio.AbstractEventLoop, _LoopClient] = {}


def get_client() -> SyncDflockClient:
    """The process's `SyncDflockClient` for the current settings."""
    global _sync_client
    current = conf.get_settings()
    client = _sync_client
    if client is not None and client.settings is current:
        return client
    with _lock:
        client = _sync_client
        if client is not None and client.settings is current:
            return client
        fresh = _sync_client = SyncDflockClient(current)
    if client is not None:
        client.close()
    return fresh


def get_async_client() -> AsyncDflockClient:
    """The running event loop's `AsyncDflockClient` for the current settings.

    Call it from a coroutine: connections belong to the loop that opened them.
    """
    loop = asyncio.get_running_loop()
    current = conf.get_settings()
    entry = _loop_clients.get(loop)
    if entry is not None and entry.client.settings is current:
        return entry.client
    with _lock:
        old = _loop_clients.get(loop)
        if old is not None and old.client.settings is current:
            return old.client
        client = AsyncDflockClient(current)
        closer = close_at_loop_shutdown(functools.partial(_forget_and_close, loop, client))
        _loop_clients[loop] = _LoopClient(client, closer)
        for closed in [other for other in _loop_clients if other.is_closed()]:
            del _loop_clients[closed]
    if old is not None:
        close_now(loop, old.closer)
    return client


async def _forget_and_close(loop: asyncio.AbstractEventLoop, client: AsyncDflockClient) -> None:
    with _lock:
        entry = _loop_clients.get(loop)
        if entry is not None and entry.client is client:
            del _loop_clients[loop]
    await client.aclose()


def close_clients() -> None:
    """Close the sync client and forget every loop's async client.

    Async clients on loops still running are closed on their own loops.
    """
    global _sync_client
    with _lock:
        client, _sync_client = _sync_client, None
        entries = list(_loop_clients.items())
        _loop_clients.clear()
    if client is not None:
        client.close()
    for loop, entry in entries:
        if not loop.is_closed():
            try:
                loop.call_soon_threadsafe(close_now, loop, entry.closer)
            except RuntimeError:  # the loop closed in the meantime
                continue


def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting == conf.SETTING:
        conf.clear_cache()
        close_clients()


setting_changed.connect(_on_setting_changed, dispatch_uid="dflock_integrations.setting_changed")
