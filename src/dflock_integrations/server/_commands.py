"""What each request does: its arguments, its answer, and when it has to wait."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from dflock_integrations.server._keyspace import KeyState, Refusal, Waiter
from dflock_integrations.server._pubsub import valid_name

if TYPE_CHECKING:
    from dflock_integrations.server._session import Session

Answer = str | Coroutine[Any, Any, str]
Handler = Callable[["Session", str, str], Answer]


class Bad(Exception):
    """A request the server cannot parse: it answers `error` and keeps the connection."""


def _int(text: str, minimum: int) -> int:
    digits = text[1:] if text.startswith("-") else text
    if not digits.isdigit():
        raise Bad
    value = int(text)
    if value < minimum:
        raise Bad
    return value


def _key(key: str) -> str:
    if not key or any(c.isspace() for c in key):
        raise Bad
    return key


def execute(session: Session, cmd: str, key: str, arg: str) -> Answer:
    handler = _HANDLERS.get(cmd)
    if handler is None:
        raise Bad
    # Like dflockd, leases are checked on every request, not only by the periodic
    # sweep: a lease past its end is gone before this request sees the key.
    session.server.keyspace.expire_due()
    try:
        return handler(session, key, arg)
    except Refusal as refusal:
        return refusal.status


def _ping(session: Session, key: str, arg: str) -> Answer:
    return "ok"


def _stats(session: Session, key: str, arg: str) -> Answer:
    server = session.server
    body = {
        "connections": len(server.sessions),
        **server.keyspace.snapshot(),
        "signal_channels": server.pubsub.snapshot(),
    }
    return "ok " + json.dumps(body, separators=(",", ":"))


# -- locks and semaphores ----------------------------------------------------------------


def _lease_args(
    parts: list[str], *, semaphore: bool, with_timeout: bool, default_ttl: int
) -> tuple[int, int, int]:
    """(timeout, limit, ttl) from `[timeout] [limit] [ttl]` as the command takes them."""
    required = int(with_timeout) + int(semaphore)
    if not required <= len(parts) <= required + 1:
        raise Bad
    timeout = _int(parts[0], 0) if with_timeout else 0
    limit = _int(parts[int(with_timeout)], 1) if semaphore else 1
    ttl = _int(parts[required], 1) if len(parts) > required else default_ttl
    return timeout, limit, ttl


def _acquire(semaphore: bool) -> Handler:
    def handle(session: Session, key: str, arg: str) -> Answer:
        keyspace = session.server.keyspace
        timeout, limit, ttl = _lease_args(
            arg.split(),
            semaphore=semaphore,
            with_timeout=True,
            default_ttl=session.server.config.default_lease_ttl_s,
        )
        ks = keyspace.state(_key(key), limit)
        grant = keyspace.try_grant(ks, session.owner, ttl)
        if grant is not None:
            return f"ok {grant[0]} {grant[1]}"
        if timeout == 0:
            return "timeout"
        waiter = Waiter(session.owner, ttl, future=asyncio.get_running_loop().create_future())
        keyspace.queue(ks, waiter)
        return _await_grant(session, ks, waiter, timeout, two_phase=False)

    return handle


async def _await_grant(
    session: Session, ks: KeyState, waiter: Waiter, wait_s: int, *, two_phase: bool
) -> str:
    keyspace = session.server.keyspace
    assert waiter.future is not None
    try:
        async with asyncio.timeout(wait_s):
            token, ttl = await waiter.future
    except TimeoutError:
        if waiter.grant is None:
            keyspace.withdraw(ks, waiter)
            if two_phase:
                session.owner.enqueued.pop(ks.key, None)
            return "timeout"
        token, ttl = waiter.grant  # granted in the same instant: the grant wins
    except asyncio.CancelledError:
        keyspace.withdraw(ks, waiter)  # a no-op once granted; closing releases the grant
        raise
    waiter.future = None
    return f"ok {token} {ttl}"


def _enqueue(semaphore: bool) -> Handler:
    def handle(session: Session, key: str, arg: str) -> Answer:
        keyspace = session.server.keyspace
        _, limit, ttl = _lease_args(
            arg.split(),
            semaphore=semaphore,
            with_timeout=False,
            default_ttl=session.server.config.default_lease_ttl_s,
        )
        key = _key(key)
        if key in session.owner.enqueued:
            return "error_already_enqueued"
        ks = keyspace.state(key, limit)
        grant = keyspace.try_grant(ks, session.owner, ttl)
        if grant is not None:
            session.owner.enqueued[key] = Waiter(session.owner, ttl, grant=grant)
            return f"acquired {grant[0]} {grant[1]}"
        waiter = Waiter(session.owner, ttl)
        keyspace.queue(ks, waiter)
        session.owner.enqueued[key] = waiter
        return "queued"

    return handle


def _wait(session: Session, key: str, arg: str) -> Answer:
    parts = arg.split()
    if len(parts) != 1:
        raise Bad
    timeout = _int(parts[0], 0)
    waiter = session.owner.enqueued.get(_key(key))
    keyspace = session.server.keyspace
    ks = keyspace.keys.get(key)
    if waiter is None or ks is None:
        return "error_not_enqueued"
    if waiter.grant is not None:
        token, _ = waiter.grant
        holder = ks.holders.get(token)
        if holder is None:
            session.owner.enqueued.pop(key, None)
            return "error_lease_expired"  # granted at `e`, but the lease ran out before `w`
        keyspace.reset_lease(key, token, holder, time.monotonic())  # `w` restarts the lease
        return f"ok {token} {holder.ttl}"
    waiter.future = asyncio.get_running_loop().create_future()
    return _await_grant(session, ks, waiter, timeout, two_phase=True)


def _release(session: Session, key: str, arg: str) -> Answer:
    parts = arg.split()
    stale = session.owner.enqueued.get(key)
    if stale is not None and stale.grant is not None and stale.grant[0] in parts:
        del session.owner.enqueued[key]  # a two-phase grant that expired: releasing ends it
    ks = session.server.keyspace.keys.get(_key(key))
    if len(parts) != 1 or ks is None or not session.server.keyspace.release(ks, parts[0]):
        raise Bad
    return "ok"


def _renew(session: Session, key: str, arg: str) -> Answer:
    parts = arg.split()
    if not 1 <= len(parts) <= 2:
        raise Bad
    # Without a TTL dflockd renews to its default lease, not to the previous TTL.
    ttl = _int(parts[1], 1) if len(parts) == 2 else session.server.config.default_lease_ttl_s
    ks = session.server.keyspace.keys.get(_key(key))
    remaining = session.server.keyspace.renew(ks, parts[0], ttl) if ks else None
    if remaining is None:
        raise Bad
    return f"ok {remaining}"


# -- signals ------------------------------------------------------------------------------


def _listen(session: Session, key: str, arg: str) -> Answer:
    subscription = _subscription(key, arg)
    if (
        subscription in session.subscriptions
        or len(session.subscriptions) >= session.server.config.max_subscriptions
    ):
        raise Bad
    session.subscriptions.append(subscription)
    session.server.pubsub.add(session, *subscription)
    return "ok"


def _unlisten(session: Session, key: str, arg: str) -> Answer:
    subscription = _subscription(key, arg)
    if subscription not in session.subscriptions:
        raise Bad
    session.subscriptions.remove(subscription)
    session.server.pubsub.remove(session, *subscription)
    return "ok"


def _subscription(pattern: str, arg: str) -> tuple[str, str]:
    parts = arg.split()
    if not valid_name(pattern, pattern=True) or len(parts) > 1:
        raise Bad
    return pattern, parts[0] if parts else ""


def _signal(session: Session, key: str, arg: str) -> Answer:
    if not valid_name(key, pattern=False) or not arg.strip():
        raise Bad
    return f"ok {session.server.pubsub.publish(key, arg)}"


def _auth(session: Session, key: str, arg: str) -> Answer:
    return "ok"  # already authenticated, or the server has no token


_HANDLERS: dict[str, Handler] = {
    "ping": _ping,
    "stats": _stats,
    "auth": _auth,
    "l": _acquire(False),
    "sl": _acquire(True),
    "e": _enqueue(False),
    "se": _enqueue(True),
    "w": _wait,
    "sw": _wait,
    "r": _release,
    "sr": _release,
    "n": _renew,
    "sn": _renew,
    "listen": _listen,
    "unlisten": _unlisten,
    "signal": _signal,
}
