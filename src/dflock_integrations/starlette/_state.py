"""Where an app keeps its dflock client, and how request code finds it.

`dflock_lifespan` puts the client and the locking switch in two places: the lifespan
state (copied into every request's `request.state`, and seen by mounted sub-apps)
and `app.state` (for servers without lifespan state, and for code holding the app).
Lookups try them in that order.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

from dflock_integrations.client import AsyncDflockClient

CLIENT = "dflock_client"
ENABLED = "dflock_enabled"
LEASE = "dflock_lease"  # the middleware's held lease, as request.state.dflock_lease


def lookup(scope: Scope, name: str) -> Any:
    """A value the lifespan stored, from the request's state or else the app's; None if absent."""
    state = scope.get("state")
    if state and name in state:
        return state[name]
    app = scope.get("app")
    return getattr(getattr(app, "state", None), name, None)


def client_in(scope: Scope) -> AsyncDflockClient:
    client = lookup(scope, CLIENT)
    if not isinstance(client, AsyncDflockClient):
        raise RuntimeError(
            "no dflock client for this app: pass lifespan=dflock_lifespan() to FastAPI(...) or "
            "Starlette(...) (or enter it in your own lifespan), or give the middleware "
            "client= or settings="
        )
    return client


def get_dflock_client(conn: HTTPConnection) -> AsyncDflockClient:
    """The app's `AsyncDflockClient`; also a FastAPI dependency: `Depends(get_dflock_client)`."""
    return client_in(conn.scope)


def locking_enabled(scope: Scope) -> bool:
    """False when the app switched locking off with `dflock_lifespan(enabled=False)`."""
    return lookup(scope, ENABLED) is not False
