"""Signals over NATS core pub/sub (nats-py): channels are subjects, one to one.

dflockd's channel syntax came from NATS: dot tokens, `*` one token, `>` the rest,
queue groups with one delivery per group. So a channel is sent as the subject it
names (key prefix included) and other NATS clients can take part: `nats sub 'celery.>'`.

- One connection per client, opened on first use, for emitting and listening.
- Listeners without a group that share a pattern share one NATS subscription and
  the client fans each message out to them: a hundred listeners in one process cost
  the broker and the socket one message, not a hundred. Group members subscribe
  one by one, so NATS picks one member per group.
- NATS tells a publisher nothing about receivers: `emit` returns None.
- nats-py's own reconnection is off. When the connection goes, listeners'
  subscriptions are made again on a new one, with backoff (`_backoff.py`); until
  then `emit` raises ServerUnavailable, as it does while the broker is down. (A
  signal emitted in the moment before the loss is known is lost: at most once.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from typing_extensions import Self

from dflock_integrations._broker_url import BrokerUrl
from dflock_integrations._extras import require
from dflock_integrations.client._brokers._backoff import reconnect, stop
from dflock_integrations.client._signals import AsyncSubscription, Signal
from dflock_integrations.errors import AuthenticationError, DflockError, ServerUnavailable
from dflock_integrations.settings import DflockSettings

# nats-py comes with the [nats] extra; without it, an ImportError that says so.
require("nats", "DFLOCK_SIGNALS_URL=nats://...", "nats-py", "nats")
from nats.aio.client import Client  # noqa: E402
from nats.aio.msg import Msg  # noqa: E402
from nats.aio.subscription import Subscription  # noqa: E402
from nats.errors import AuthorizationError, MaxPayloadError  # noqa: E402

if TYPE_CHECKING:
    from dflock_integrations.client._signals import Feed

log = logging.getLogger("dflock_integrations")

# A broker that stops answering is noticed after two unanswered pings.
PING_INTERVAL_S = 10


class NatsBroker:
    def __init__(self, settings: DflockSettings, url: BrokerUrl) -> None:
        self.shown = url.shown
        self._settings = settings
        self._url = url
        self._nc: Client | None = None
        self._connecting = asyncio.Lock()
        self._shared: dict[str, _Hub] = {}  # plain listeners' subscriptions, by pattern
        self._hubs: set[_Hub] = set()  # every live subscription, to make again after a loss
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<NatsBroker {self.shown}>"

    # -- emitting -------------------------------------------------------------------------------

    def emit(self, channel: str, body: str) -> Awaitable[None]:
        # nats-py's publish itself when connected: an emit is a buffer append, and a
        # coroutine of ours around it would cost a third of that (failure() maps errors).
        nc = self._nc
        if nc is None:
            return self._connect_and_publish(channel, body)
        return nc.publish(channel, body.encode())

    async def _connect_and_publish(self, channel: str, body: str) -> None:
        nc = await self._connection()
        await nc.publish(channel, body.encode())

    def failure(self, exc: Exception) -> Exception:
        if isinstance(exc, MaxPayloadError):
            limit = self._nc.max_payload if self._nc is not None else "?"
            return ValueError(
                f"signal payload is more than NATS at {self.shown} accepts (its max_payload "
                f"is {limit} bytes)"
            )
        if isinstance(exc, DflockError):
            return exc
        return self._unavailable(exc)

    # -- the connection -------------------------------------------------------------------------

    async def _connection(self) -> Client:
        """The connected client, connecting first if need be; ServerUnavailable if it cannot."""
        async with self._connecting:
            nc = self._nc
            if nc is not None and nc.is_connected:
                return nc
            if self._closed:
                raise ServerUnavailable(f"the client of NATS at {self.shown} is closed")
            if self._reconnecting is not None:
                raise ServerUnavailable(
                    f"NATS at {self.shown} is unreachable; reconnecting", server=self.shown
                )
            self._nc = nc = await self._connect()
            return nc

    async def _connect(self) -> Client:
        nc = Client()

        async def on_closed() -> None:
            self._lost(nc)

        servers, options = _connect_options(self._url, nc)
        try:
            await nc.connect(
                servers,
                name="dflock-integrations",
                connect_timeout=self._settings.connect_timeout_s,  # type: ignore[arg-type]
                # One round over the servers (nats-py tries each twice), then fail.
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                ping_interval=PING_INTERVAL_S,
                max_outstanding_pings=2,
                # Channels and patterns are checked by the client before they get here.
                skip_subject_validation=True,
                error_cb=self._on_error,
                closed_cb=on_closed,
                **options,
            )
            if self._url.tls and not _over_tls(nc):
                raise _NotTls
        except Exception as exc:
            with contextlib.suppress(Exception):
                await nc.close()
            # nats-py raises the server's -ERR as a plain Error during connect.
            if isinstance(exc, AuthorizationError) or "Authorization Violation" in str(exc):
                raise AuthenticationError(
                    f"NATS at {self.shown} refused the credentials of DFLOCK_SIGNALS_URL"
                ) from None
            if isinstance(exc, _NotTls):
                raise ServerUnavailable(
                    f"DFLOCK_SIGNALS_URL asks for TLS, but NATS at {self.shown} does not "
                    "require it, so nats-py would talk in plain text: refused",
                    server=self.shown,
                ) from None
            raise self._unavailable(exc) from None
        return nc

    def _lost(self, nc: Client) -> None:
        """The connection `nc` closed; reconnect in the background while anyone listens."""
        if nc is not self._nc or self._closed:
            return
        self._nc = None
        if self._hubs and self._reconnecting is None:
            log.warning("dflock signals: lost NATS at %s; reconnecting", self.shown)
            self._reconnecting = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            await reconnect(self._resubscribe, self.shown)
        finally:
            self._reconnecting = None
        for hub in self._hubs:
            for member in hub.members:
                member.reconnects += 1
        log.warning("dflock signals: NATS at %s is back; listeners subscribed again", self.shown)

    async def _resubscribe(self) -> None:
        nc = await self._connect()
        try:
            for hub in list(self._hubs):
                await hub.subscribe(nc)
            await nc.flush(self._settings.connect_timeout_s)  # type: ignore[arg-type]
        except BaseException:
            with contextlib.suppress(Exception):
                await nc.close()
            raise
        self._nc = nc

    async def _on_error(self, exc: Exception) -> None:
        # nats-py reports every failed attempt here; the outcome is what matters, and
        # it is logged where it is known (lost, back, ServerUnavailable).
        log.debug("dflock signals: NATS at %s: %s", self.shown, self._url.scrub(repr(exc)))

    def _unavailable(self, exc: BaseException) -> ServerUnavailable:
        reason = self._url.scrub(str(exc) or type(exc).__name__)
        return ServerUnavailable(f"NATS at {self.shown} unreachable: {reason}", server=self.shown)

    # -- listening ------------------------------------------------------------------------------

    def feed(self, subscription: AsyncSubscription) -> Feed:
        return _NatsFeed(self, subscription)

    async def join(self, sub: AsyncSubscription) -> _Hub:
        """Add `sub` to a NATS subscription of its pattern, confirmed by the server."""
        hub = self._shared.get(sub.pattern) if sub.group is None else None
        if hub is not None:
            hub.members.append(sub)
            await hub.ready.wait()
            if hub.failure is not None:
                hub.members.remove(sub)
                raise hub.failure
            return hub
        hub = _Hub(sub, self.shown)
        if sub.group is None:
            self._shared[sub.pattern] = hub
        self._hubs.add(hub)
        try:
            nc = self._nc
            if nc is None or not nc.is_connected:
                nc = await self._connection()
            await hub.subscribe(nc)
            # The SUB is in effect once the server answered a ping sent after it.
            await nc.flush(self._settings.connect_timeout_s)  # type: ignore[arg-type]
        except BaseException as exc:
            self._forget(hub)
            failure = exc if isinstance(exc, ServerUnavailable) else self._unavailable(exc)
            hub.failure = failure
            hub.ready.set()
            if failure is exc:
                raise
            raise failure from None
        hub.ready.set()
        return hub

    async def leave(self, sub: AsyncSubscription, hub: _Hub) -> None:
        if sub in hub.members:
            hub.members.remove(sub)
        if hub.members:
            return
        self._forget(hub)
        if hub.subscription is not None and self._nc is not None and self._nc.is_connected:
            with contextlib.suppress(Exception):
                await hub.subscription.unsubscribe()

    def _forget(self, hub: _Hub) -> None:
        self._hubs.discard(hub)
        if self._shared.get(hub.pattern) is hub:
            del self._shared[hub.pattern]

    # -- life -----------------------------------------------------------------------------------

    def after_fork(self) -> Self:
        return type(self)(self._settings, self._url)

    async def aclose(self) -> None:
        self._closed = True
        task, self._reconnecting = self._reconnecting, None
        await stop(task)
        nc, self._nc = self._nc, None
        self._hubs.clear()
        self._shared.clear()
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()


class _NotTls(Exception):
    """Raised before credentials would go out over a connection that is not TLS."""


def _over_tls(nc: Client) -> bool:
    # nats-py upgrades to TLS exactly when the server's INFO requires it (and offers
    # no public way to ask), so that INFO tells whether this connection is TLS.
    return bool(nc._server_info.get("tls_required"))


def _connect_options(url: BrokerUrl, nc: Client) -> tuple[list[str], dict[str, Any]]:
    """The servers without credentials, and the credentials as connect() options.

    Given apart, they are sent percent-decoded, and over tls:// only once the
    connection is TLS: nats-py would otherwise send a URL's password in the CONNECT
    line to a server that does not require TLS.
    """
    servers = []
    credentials: tuple[str | None, str | None] = (None, None)
    for text in url.urls:
        parts = urlsplit(text)
        if parts.username is not None and credentials == (None, None):
            credentials = (unquote(parts.username), _maybe(unquote, parts.password))
        servers.append(urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])))
    options: dict[str, Any] = {}
    if url.tls:
        options["tls"] = ssl.create_default_context()  # the system's CAs, or SSL_CERT_FILE
    user, password = credentials

    def checked(value: str) -> Callable[[], str]:
        def give() -> str:
            if url.tls and not _over_tls(nc):
                raise _NotTls
            return value

        return give

    if user is not None and password is not None:
        options.update(user=checked(user), password=checked(password))
    elif user is not None:
        options["token"] = checked(user)  # nats://TOKEN@host, as NATS writes it
    return servers, options


def _maybe(function: Callable[[str], str], value: str | None) -> str | None:
    return None if value is None else function(value)


class _Hub:
    """One NATS subscription and the listeners it feeds (one, for a group member)."""

    def __init__(self, first: AsyncSubscription, source: str) -> None:
        self.pattern = first.pattern
        self.group = first.group
        self.members: list[AsyncSubscription] = [first]
        self.subscription: Subscription | None = None
        self.ready = asyncio.Event()
        self.failure: BaseException | None = None
        self._strip = first._names.strip
        self._source = source

    async def subscribe(self, nc: Client) -> None:
        self.subscription = await nc.subscribe(
            self.pattern, queue=self.group or "", cb=self._on_message
        )

    async def _on_message(self, msg: Msg) -> None:
        # One Signal for every listener: it is immutable.
        signal = Signal(self._strip(msg.subject), msg.data.decode(), self._source)
        for member in self.members:
            member._push(signal)


class _NatsFeed:
    def __init__(self, broker: NatsBroker, subscription: AsyncSubscription) -> None:
        self._broker = broker
        self._sub = subscription
        self._hub: _Hub | None = None

    async def open(self) -> None:
        self._hub = await self._broker.join(self._sub)

    async def aclose(self) -> None:
        hub, self._hub = self._hub, None
        if hub is not None:
            await self._broker.leave(self._sub, hub)
