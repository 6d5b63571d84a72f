"""`dflock_lifespan`: build the app's client at start-up and close it at shutdown."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.types import Lifespan

from dflock_integrations.client import AsyncDflockClient
from dflock_integrations.settings import DflockSettings
from dflock_integrations.starlette._state import CLIENT, ENABLED

AppLifespan = Callable[[Starlette], AbstractAsyncContextManager[Mapping[str, Any]]]


def dflock_lifespan(
    settings: DflockSettings | None = None,
    *,
    enabled: bool = True,
    lifespan: Lifespan[Any] | None = None,
    **overrides: Any,
) -> AppLifespan:
    """A lifespan for `FastAPI(lifespan=...)` or `Starlette(lifespan=...)`.

    Optional: an app without it builds its client at first use. With it, settings
    that cannot work stop the app at start-up, and the client closes at shutdown.

    At start-up it builds an `AsyncDflockClient` from `settings` (default: the
    environment's `DFLOCK_*`, read then, not at import) plus `overrides`, and stores
    it in the lifespan state and in `app.state.dflock_client`; at shutdown it closes
    it. `lifespan` is the app's own, run inside ours (so it can use the client) and
    its state is merged in. `enabled=False` switches every lock and semaphore of the
    app off (dependencies yield a `SkippedLease`, the middleware lets requests
    through); the client is still built, and connects only when used.
    """

    @contextlib.asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[Mapping[str, Any]]:
        client = AsyncDflockClient(settings, **overrides)
        app.state.dflock_client = client
        app.state.dflock_enabled = enabled
        state: dict[str, Any] = {CLIENT: client, ENABLED: enabled}
        try:
            if lifespan is None:
                yield state
            else:
                async with lifespan(app) as own:
                    yield {**state, **(own or {})}
        finally:
            await client.aclose()

    return run
