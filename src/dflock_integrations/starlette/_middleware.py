"""`DflockMiddleware`: pure ASGI; takes a lock or semaphore slot for requests matching a rule.

    app.add_middleware(
        DflockMiddleware,
        rules=[
            Rule("/orders/{order_id}/pay", key="order:{order_id}", methods={"POST"}),
            Rule("/reports/{name}", key="reports", limit=3),
        ],
    )

The first matching rule wins. The lease is held for the whole response, streamed
bodies included, and offered to the app as `request.state.dflock_lease`. Refusals
are answered here: 423 (lock timeout), 429 (semaphore full), 503 (server
unreachable or refusing us), JSON with Retry-After, and the rest of the table in
`dflock_integrations._http.answers`. The lease is taken and given back by the HTTP
layer's one hold path (`dflock_integrations._http.hold`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dflock_integrations._http import hold
from dflock_integrations._http.answers import HttpAnswer, refuse
from dflock_integrations._http.rules import Rule, coerce_rules, first_match
from dflock_integrations.client import AsyncDflockClient
from dflock_integrations.errors import DflockError
from dflock_integrations.settings import DflockSettings
from dflock_integrations.starlette._answers import json_answer
from dflock_integrations.starlette._state import LEASE, client_in, locking_enabled


class DflockMiddleware:
    """Serialise or cap requests by `rules` (`Rule` objects or dicts of Rule's arguments).

    The client is `client` if given; else one built from `settings` and owned here
    (closed at lifespan shutdown); else the one `dflock_lifespan` stored for the app,
    or without it one built for the app from the `DFLOCK_*` variables at first use.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        rules: Iterable[Rule | dict[str, Any]],
        client: AsyncDflockClient | None = None,
        settings: DflockSettings | None = None,
        enabled: bool = True,
        retry_after_s: float | None = None,
    ) -> None:
        if client is not None and settings is not None:
            raise ValueError("DflockMiddleware takes client= or settings=, not both")
        self.app = app
        self.rules = coerce_rules(rules)
        self.enabled = enabled
        self.retry_after_s = retry_after_s
        self._owns_client = client is None and settings is not None
        self._client = AsyncDflockClient(settings) if self._owns_client else client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self._owns_client:
                send = self._closing_at_shutdown(send)
            await self.app(scope, receive, send)
            return
        match = first_match(self.rules, scope["method"], route_path(scope))
        if match is None or not self.enabled or not locking_enabled(scope):
            await self.app(scope, receive, send)
            return
        rule, key = match
        early: list[Message] = []  # body messages read while waiting, replayed to the app

        async def client_gone() -> None:
            while (message := await receive())["type"] != "http.disconnect":
                early.append(message)

        try:
            what = rule.hold.for_method(scope["method"])
            lease = await what.take(self._client or client_in(scope), key, client_gone)
        except DflockError as exc:
            answer = refuse(exc, scope["method"], scope["path"], retry_after_s=self.retry_after_s)
            if answer is None:
                raise  # not a refusal (a bad key is a bug): a real error
            await self.refuse(scope, answer)(scope, receive, send)
            return
        if lease is None:
            return  # the client left while queued; nobody is there to answer
        scope.setdefault("state", {})[LEASE] = lease

        async def replay() -> Message:
            return early.pop(0) if early else await receive()

        try:
            await self.app(scope, replay if early else receive, send)
        finally:
            await hold.release(lease, scope["method"], scope["path"])

    def refuse(self, scope: Scope, answer: HttpAnswer) -> ASGIApp:
        """The response to a refused request; override to answer differently."""
        return json_answer(answer)

    def _closing_at_shutdown(self, send: Send) -> Send:
        async def closing(message: Message) -> None:
            if message["type"].startswith("lifespan.shutdown") and self._client is not None:
                await self._client.aclose()
            await send(message)

        return closing


def route_path(scope: Scope) -> str:
    """The path within the app: `root_path` (a proxy's or a mount's prefix) removed."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :] or "/"
    return path
