"""Signals: payloads, channels, and the subscriptions that hand them to the application.

`AsyncSubscription` is the same on every transport: a bounded queue that keeps the
newest signals (`max_queue`, `dropped`), a `reconnects` count, and a feed that
fills it. The feed is the transport's: `_dflockd_feed.py` (a listening connection
per dflockd server) or a broker's (`_brokers/`, chosen by DFLOCK_SIGNALS_URL).
`SyncSubscription` runs one on the sync client's loop thread.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from typing_extensions import Self

from dflock_integrations.client._dflockd_feed import DflockdFeed
from dflock_integrations.keys import check_channel

if TYPE_CHECKING:
    from dflock_integrations.client._async._client import AsyncDflockClient
    from dflock_integrations.client._sync._client import SyncDflockClient

# One limit on every transport, dflockd's, so code moves between them: the line a
# listener receives, `sig <channel> <payload>`, must be shorter than 64 KiB.
MAX_LINE_BYTES = 64 * 1024
_FRAMING_BYTES = len("sig  ")
# A str this short fits whatever its channel (256 bytes at most, UTF-8 4 a character).
SHORT_PAYLOAD_CHARS = (MAX_LINE_BYTES - 1 - _FRAMING_BYTES - 256) // 4
_CHANNEL_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Signal:
    channel: str  # without the key prefix
    payload: str
    server: str  # the dflockd server, or the broker's URL without its secrets

    def json(self) -> Any:
        """The payload parsed as JSON."""
        return json.loads(self.payload)


def payload_room(channel: str) -> int:
    """The most payload bytes a signal on `channel` (prefix included) may carry."""
    return MAX_LINE_BYTES - 1 - _FRAMING_BYTES - len(channel.encode("utf-8"))


def encode_payload(payload: object, channel: str) -> str:
    """A payload as one protocol line: strings as they are, anything else as JSON."""
    # The common case first, in a few C calls: a one-line string too short to need
    # counting bytes (4 at most a character). isprintable() is False for line ends, and
    # a printable string is blank only if it is all spaces.
    if (
        type(payload) is str
        and (len(payload) + len(channel)) * 4 < MAX_LINE_BYTES - _FRAMING_BYTES
        and payload.isprintable()
        and payload.strip(" ")
    ):
        return payload
    if isinstance(payload, str):
        text = payload
    else:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    if not text.strip():
        raise ValueError("signal payload must not be blank")
    if "\n" in text or "\r" in text:
        raise ValueError(
            "signal payload must be one line; pass a dict or list to send it as JSON, "
            "which escapes newlines"
        )
    size, room = len(text.encode("utf-8")), payload_room(channel)
    if size > room:
        raise ValueError(
            f"signal payload of {size} bytes is too large: on {channel!r} at most {room} "
            f"bytes fit (the channel, the payload and {_FRAMING_BYTES} bytes of framing "
            f"must fit in one line shorter than {MAX_LINE_BYTES} bytes)"
        )
    return text


class ChannelNames:
    """Channels and patterns as sent: the key prefix first, checked once per name.

    An application emits on a handful of channels, so a checked name is remembered
    (up to a few thousand) and an emit costs a dict lookup, not a parse.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self.known: dict[str, str] = {}  # channel -> as sent, for a lookup without a call

    def channel(self, channel: str) -> str:
        full = self.known.get(channel)
        if full is None:
            full = check_channel(self._prefix + check_channel(channel))
            if len(self.known) >= _CHANNEL_CACHE_SIZE:
                self.known.clear()
            self.known[channel] = full
        return full

    def pattern(self, pattern: str) -> str:
        return check_channel(self._prefix + check_channel(pattern, pattern=True), pattern=True)

    def strip(self, channel: str) -> str:
        """A channel as received, without the prefix."""
        prefix = self._prefix
        return channel[len(prefix) :] if prefix and channel.startswith(prefix) else channel


class Feed(Protocol):
    """What fills a subscription: a transport's subscription to its pattern."""

    async def open(self) -> None:
        """Subscribed once this returns (a signal emitted from now on arrives), or raise."""

    async def aclose(self) -> None:
        """Unsubscribe and stop reconnecting."""


class AsyncSubscription:
    """Signals matching one pattern, from every server or the broker, as an async iterator."""

    def __init__(
        self, client: AsyncDflockClient, pattern: str, *, group: str | None, max_queue: int
    ) -> None:
        self.pattern = pattern  # as sent: with the key prefix
        self.group = group
        self.dropped = 0  # signals discarded because the queue was full
        self.reconnects = 0  # times the transport was lost and subscribed to again
        self._client = client
        self._names = client._names
        self._queue: asyncio.Queue[Signal] = asyncio.Queue(maxsize=max_queue)
        broker = client._broker
        self._feed: Feed = DflockdFeed(client, self) if broker is None else broker.feed(self)
        self._started = False
        self._closed = False

    async def start(self) -> Self:
        """Subscribe; raises (ServerUnavailable, SignalsUnsupported) if that cannot be done."""
        if self._started:
            return self
        self._started = True
        try:
            await self._feed.open()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def get(self, timeout_s: float | None = None) -> Signal | None:
        """The next signal, or None after `timeout_s` seconds without one."""
        await self.start()
        try:
            return await asyncio.wait_for(self._queue.get(), timeout_s)
        except asyncio.TimeoutError:
            return None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Signal:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        await self.start()
        return await self._queue.get()

    async def aclose(self) -> None:
        """Unsubscribe: close the listening connections, or leave the broker's subject."""
        self._closed = True
        await self._feed.aclose()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _deliver(self, channel: str, payload: str, source: str) -> None:
        """A signal as received: `channel` with the prefix, `source` where it came from."""
        self._push(Signal(self._names.strip(channel), payload, source))

    def _push(self, signal: Signal) -> None:
        queue = self._queue
        if queue.full():
            # Keep the newest: a consumer that fell behind wants the current state.
            queue.get_nowait()
            self.dropped += 1
        queue.put_nowait(signal)


class SyncSubscription:
    """Signals for blocking code: `for signal in sub:` or `sub.get(timeout_s=1)`.

    The listening connections live on the sync client's background loop; this object
    hands their signals to the calling thread.
    """

    def __init__(
        self, client: SyncDflockClient, pattern: str, *, group: str | None, max_queue: int
    ) -> None:
        self.pattern = pattern
        self.group = group
        self._portal = client._keeper.portal()
        self._sub = AsyncSubscription(
            client._keeper.async_twin(), pattern, group=group, max_queue=max_queue
        )

    @property
    def dropped(self) -> int:
        return self._sub.dropped

    @property
    def reconnects(self) -> int:
        return self._sub.reconnects

    def start(self) -> Self:
        self._portal.call(self._sub.start())
        return self

    def get(self, timeout_s: float | None = None) -> Signal | None:
        signal: Signal | None = self._portal.call(self._sub.get(timeout_s))
        return signal

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Signal:
        try:
            signal: Signal = self._portal.call(self._sub.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None
        return signal

    def close(self) -> None:
        self._portal.call(self._sub.aclose())

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
