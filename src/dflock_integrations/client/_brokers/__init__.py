"""Signal transports beside dflockd, chosen by DFLOCK_SIGNALS_URL: NATS and Redis.

The client's `emit` and `listen` look no further than `client._broker`: None means
the dflockd servers carry signals (`_dflockd_feed.py`); otherwise an `AsyncBroker`
does. The sync client's `SyncBroker` runs its async twin's broker on the client's
loop thread, as `SyncSubscription` runs a subscription there.

Each broker module imports its library itself, so a project without NATS never
imports nats-py, and a missing library is an ImportError naming the extra.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

from typing_extensions import Self

if TYPE_CHECKING:
    from dflock_integrations.client._async._client import AsyncDflockClient
    from dflock_integrations.client._signals import AsyncSubscription, Feed
    from dflock_integrations.client._sync._client import SyncDflockClient


class AsyncBroker(Protocol):
    shown: str  # the broker's URL without secrets, for logs and `Signal.server`

    def emit(self, channel: str, body: str) -> Awaitable[int | None]:
        """Publish; the number of receivers where the broker tells it, else None.

        The library's own awaitable where it can be (the hot path); whatever it raises
        goes through `failure`."""

    def failure(self, exc: Exception) -> Exception:
        """The package's exception for one the broker's library raised."""

    def feed(self, subscription: AsyncSubscription) -> Feed:
        """What fills `subscription` from this broker."""

    def after_fork(self) -> Self:
        """A broker for a forked child: the parent's connections are not its to use."""

    async def aclose(self) -> None:
        """Close the broker's connections; subscriptions end with them."""


def async_broker(client: AsyncDflockClient) -> AsyncBroker | None:
    """The broker DFLOCK_SIGNALS_URL names, not yet connected; None when it is unset."""
    url = client.settings.broker_url()
    if url is None:
        return None
    if url.kind == "nats":
        from dflock_integrations.client._brokers._nats import NatsBroker

        return NatsBroker(client.settings, url)
    from dflock_integrations.client._brokers._redis import RedisBroker

    return RedisBroker(client.settings, url)


class SyncBroker:
    """The sync client's broker: its async twin's, on the client's loop thread."""

    def __init__(self, client: SyncDflockClient) -> None:
        self._client = client

    def emit(self, channel: str, body: str) -> int | None:
        keeper = self._client._keeper  # looked up each time: a fork replaces it
        broker = self._twin_broker()

        async def emit() -> int | None:
            return await broker.emit(channel, body)

        receivers: int | None = keeper.portal().call(emit())
        return receivers

    def failure(self, exc: Exception) -> Exception:
        return self._twin_broker().failure(exc)

    def _twin_broker(self) -> AsyncBroker:
        broker: AsyncBroker | None = self._client._keeper.async_twin()._broker
        assert broker is not None, "the twin has the same settings"
        return broker

    def after_fork(self) -> Self:
        return self

    def close(self) -> None:
        """Nothing of its own: closing the keeper closes the twin and its broker."""


def sync_broker(client: SyncDflockClient) -> SyncBroker | None:
    return None if client.settings.signals_url is None else SyncBroker(client)
