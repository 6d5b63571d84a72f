"""Where an app keeps its dflock client, and how request code finds it.

`dflock_lifespan` puts the client and the locking switch in two places: the lifespan
state (copied into every request's `request.state`, and seen by mounted sub-apps)
and `app.state` (for servers without lifespan state, and for code holding the app).
Lookups try them in that order.

An app started without `dflock_lifespan` gets a client all the same: built from
`DflockSettings()` (the `DFLOCK_*` variables) at first use, kept on the app, one per
event loop (connections belong to the loop that opened them), and closed when that
loop shuts down. The lifespan remains the way to fail at start-up on bad settings.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

import anyio.from_thread
from starlette.datastructures import State
from starlette.requests import HTTPConnection
from starlette.types import Scope

from dflock_integrations._loop_closing import close_at_loop_shutdown
from dflock_integrations.client import AsyncDflockClient

CLIENT = "dflock_client"
ENABLED = "dflock_enabled"
LEASE = "dflock_lease"  # the middleware's held lease, as request.state.dflock_lease
BUILT = "dflock_built_clients"  # on app.state: the clients built without a lifespan


def lookup(scope: Scope, name: str) -> Any:
    """A value the lifespan stored, from the request's state or else the app's; None if absent."""
    state = scope.get("state")
    if state and name in state:
        return state[name]
    return getattr(getattr(scope.get("app"), "state", None), name, None)


def client_in(scope: Scope) -> AsyncDflockClient:
    """The app's client: the lifespan's, else one built for the app on first use.

    Raises ConfigurationError when the settings it would be built from cannot work.
    """
    client = lookup(scope, CLIENT)
    if isinstance(client, AsyncDflockClient):
        return client
    return _built_clients(scope).get()


def get_dflock_client(conn: HTTPConnection) -> AsyncDflockClient:
    """The app's `AsyncDflockClient`; also a FastAPI dependency: `Depends(get_dflock_client)`."""
    return client_in(conn.scope)


def locking_enabled(scope: Scope) -> bool:
    """False when the app switched locking off with `dflock_lifespan(enabled=False)`."""
    return lookup(scope, ENABLED) is not False


class BuiltClients:
    """The clients one app builds for itself: one per event loop, each closed with its loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # loop -> (client, the generator closing it; held here, as the loop holds it weakly)
        self._clients: dict[asyncio.AbstractEventLoop, tuple[AsyncDflockClient, object]] = {}

    def get(self) -> AsyncDflockClient:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # A worker thread of the app's loop (a `def` endpoint or dependency): the
            # client belongs to that loop, so it is looked up (or built) there.
            # Outside such a thread this raises a RuntimeError saying so.
            return anyio.from_thread.run_sync(self.get)
        entry = self._clients.get(loop)
        if entry is not None:
            return entry[0]
        with self._lock:
            entry = self._clients.get(loop)
            if entry is None:
                client = AsyncDflockClient()  # may raise ConfigurationError: nothing kept
                closer = close_at_loop_shutdown(functools.partial(self._close, loop))
                entry = self._clients[loop] = (client, closer)
        return entry[0]

    async def _close(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            entry = self._clients.pop(loop, None)
        if entry is not None:
            await entry[0].aclose()


_lock = threading.Lock()
_unattached = BuiltClients()  # for a bare ASGI app without app.state


def _built_clients(scope: Scope) -> BuiltClients:
    app_state = getattr(scope.get("app"), "state", None)
    if not isinstance(app_state, State):
        return _unattached
    built = getattr(app_state, BUILT, None)
    if built is None:
        with _lock:
            built = getattr(app_state, BUILT, None)
            if built is None:
                built = BuiltClients()
                setattr(app_state, BUILT, built)
    assert isinstance(built, BuiltClients)
    return built
