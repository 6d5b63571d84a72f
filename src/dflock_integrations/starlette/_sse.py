"""`SignalStreamResponse`: dflock signals to a browser as Server-Sent Events.

    @app.get("/events")
    async def events(request: Request) -> SignalStreamResponse:
        return SignalStreamResponse(request, "orders.>")

Each signal becomes one event: `event:` (the channel, by default), optional `id:`,
and `data:` (the payload). A `: keep-alive` comment goes out when nothing else has
for `keepalive_s`, so proxies keep the connection open. The subscription is made
before the response starts (an unreachable server gets the usual 503, a server
without signals 501) and closed the moment the browser goes away.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping

import anyio
from starlette.requests import HTTPConnection
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from dflock_integrations._http.answers import refuse
from dflock_integrations.client import AsyncDflockClient, AsyncSubscription, Signal
from dflock_integrations.errors import DflockError
from dflock_integrations.keys import check_channel, check_key
from dflock_integrations.options import whole_number
from dflock_integrations.starlette._answers import json_answer
from dflock_integrations.starlette._state import client_in

EventName = str | Callable[[Signal], str | None] | None

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the three line ends SSE knows


def channel_event(signal: Signal) -> str:
    """The default event name: the signal's channel, e.g. `orders.paid`."""
    return signal.channel


class SignalStreamResponse(StreamingResponse):
    """Stream signals matching `pattern` (`*` one token, `>` the rest) as `text/event-stream`.

    `source` is the request (the app's client is used) or an `AsyncDflockClient`.
    `event` names each event: a function of the signal (default: its channel), a fixed
    name, or None for unnamed events, which a browser's `EventSource.onmessage` gets.
    `event_id` gives each event an `id:`; `retry_ms` sets the browser's reconnect delay.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        source: HTTPConnection | AsyncDflockClient,
        pattern: str,
        *,
        group: str | None = None,
        keepalive_s: float = 15.0,
        event: EventName = channel_event,
        event_id: Callable[[Signal], str | None] | None = None,
        retry_ms: int | None = None,
        max_queue: int = 1000,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not keepalive_s > 0:
            raise ValueError(f"keepalive_s must be > 0, got {keepalive_s!r}")
        if retry_ms is not None and retry_ms < 0:
            raise ValueError(f"retry_ms must be >= 0, got {retry_ms!r}")
        whole_number(max_queue, "max_queue")
        check_channel(pattern, pattern=True)
        if group is not None:
            check_key(group, what="listener group")
        # The app's client is looked up when the response starts, where a failure
        # to build it can still be answered.
        self.client = source if isinstance(source, AsyncDflockClient) else None
        self.pattern = pattern
        self.group = group
        self.keepalive_s = keepalive_s
        self.event = event
        self.event_id = event_id
        self.retry_ms = retry_ms
        self.max_queue = max_queue
        self._subscription: AsyncSubscription | None = None
        # No caching or proxy buffering: each event must reach the browser at once.
        super().__init__(
            self._events(),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            client = self.client or client_in(scope)
            subscription = client.listen(self.pattern, group=self.group, max_queue=self.max_queue)
            self._subscription = await subscription.start()
        except DflockError as exc:
            answer = refuse(exc, scope.get("method", "GET"), scope["path"])
            if answer is None:
                raise
            await json_answer(answer)(scope, receive, send)
            return
        try:
            # Whatever ASGI spec the server speaks, watch for the browser leaving, so the
            # listener goes at once rather than at the next failed write.
            async with anyio.create_task_group() as streams:

                async def until_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    streams.cancel_scope.cancel()

                streams.start_soon(until_disconnect)
                await self.stream_response(send)
                streams.cancel_scope.cancel()
        except Exception as exc:
            # The browser went away mid-write (servers on ASGI spec 2.4 raise OSError),
            # wrapped in the task group's ExceptionGroup; anything else goes on.
            if not _only_os_errors(exc):
                raise
        finally:
            # Shielded: a cancelled stream must still close its listening connections.
            with anyio.CancelScope(shield=True):
                await subscription.aclose()

    async def _events(self) -> AsyncIterator[str]:
        subscription = self._subscription
        assert subscription is not None, "started by __call__"
        # A first comment tells the browser (and tests) that the subscription is in place.
        yield ": listening\n\n" if self.retry_ms is None else f"retry: {self.retry_ms}\n\n"
        while True:
            signal = await subscription.get(self.keepalive_s)
            yield ": keep-alive\n\n" if signal is None else self.format(signal)

    def format(self, signal: Signal) -> str:
        """One signal as an SSE event; override for another layout."""
        lines: list[str] = []
        name = self.event(signal) if callable(self.event) else self.event
        if name is not None:
            lines.append(f"event: {_one_line(name, 'event name')}")
        if self.event_id is not None and (ident := self.event_id(signal)) is not None:
            lines.append(f"id: {_one_line(ident, 'event id')}")
        lines += [f"data: {part}" for part in _LINE_BREAK.split(signal.payload)]
        return "\n".join(lines) + "\n\n"


def _one_line(text: str, what: str) -> str:
    if _LINE_BREAK.search(text) or "\0" in text:
        raise ValueError(f"SSE {what} {text!r} must be one line without NUL")
    return text


def _only_os_errors(exc: BaseException) -> bool:
    """An OSError, or an exception group of nothing else (`except*` before Python 3.11)."""
    if isinstance(exc, OSError):
        return True
    inner: tuple[BaseException, ...] = getattr(exc, "exceptions", ())
    return bool(inner) and all(_only_os_errors(e) for e in inner)
