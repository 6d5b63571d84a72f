"""What each request does: its arguments, its answer, and when it has to wait.

Arguments are read the way dflockd reads them (Go's `strings.Fields`, `strconv.Atoi`,
its key check), so a malformed request gets `error` here exactly when it does there.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from dflock_integrations.server._keyspace import KeyState, Refusal, Waiter
from dflock_integrations.server._pubsub import valid_channel, valid_pattern

if TYPE_CHECKING:
    from dflock_integrations.server._session import Session

Answer = str | Coroutine[Any, Any, str]
Handler = Callable[["Session", str, str], Answer]

_INTEGER = re.compile(r"[+-]?[0-9]+")
_INT64_MAX = 2**63 - 1
# A cluster follower refuses these and names the leader; everything else it answers.
_MUTATING = frozenset({"l", "sl", "e", "se", "w", "sw", "r", "sr", "n", "sn"})
MAX_SIGNAL_LINE = 64 * 1024


class Bad(Exception):
    """A request the server cannot parse: it answers `error` and keeps the connection."""


def _int(text: str, minimum: int) -> int:
    if not _INTEGER.fullmatch(text) or abs(int(text)) > _INT64_MAX:
        raise Bad
    value = int(text)
    if value < minimum:
        raise Bad
    return value


def _key(key: str) -> str:
    # dflockd refuses only these; other Unicode spaces are ordinary key characters.
    if not key or any(c in " \t\r\n" for c in key):
        raise Bad
    return key


def execute(session: Session, cmd: str, key: str, arg: str) -> Answer:
    handler = _HANDLERS.get(cmd)
    if handler is None or cmd not in session.server.commands:
        raise Bad
    try:
        answer = handler(session, key, arg)
    except Refusal as refusal:
        return refusal.status
    return answer


def _ping(session: Session, key: str, arg: str) -> Answer:
    return "ok"


def _stats(session: Session, key: str, arg: str) -> Answer:
    server = session.server
    body: dict[str, Any] = {"connections": len(server.sessions), **server.keyspace.snapshot()}
    if server.profile.signals:
        body["signal_channels"] = server.pubsub.snapshot()
    if server.cluster_view is not None:
        body["cluster"] = server.cluster_view
    return "ok " + go_json(body)


def go_json(value: object) -> str:
    """JSON as Go's encoding/json writes it: compact, with <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _refuse_on_follower(session: Session) -> None:
    leader = session.server.config.follower_of
    if leader is not None:
        raise Refusal(f"error_not_leader {leader}" if leader else "error_not_leader")


# -- locks and semaphores ----------------------------------------------------------------


def _ttl(parts: list[str], index: int, session: Session) -> int:
    if len(parts) > index:
        return _int(parts[index], 1)
    return session.server.config.default_lease_ttl_s


def _acquire(semaphore: bool) -> Handler:
    def handle(session: Session, key: str, arg: str) -> Answer:
        parts = arg.split()
        needed = 2 if semaphore else 1
        if not needed <= len(parts) <= needed + 1:
            raise Bad
        key = _key(key)
        timeout = _int(parts[0], 0)
        limit = _int(parts[1], 1) if semaphore else 1
        ttl = _ttl(parts, needed, session)
        _refuse_on_follower(session)
        keyspace = session.server.keyspace
        ks = keyspace.state(keyspace.space(semaphore), key, limit)
        grant = keyspace.try_grant(ks, session.owner, ttl)
        if grant is not None:
            return f"ok {grant[0]} {grant[1]}"
        waiter = Waiter(session.owner, ttl)
        keyspace.queue(ks, waiter)  # even a try-lock is refused when the queue is full
        if timeout == 0:
            keyspace.withdraw(ks, waiter)
            return "timeout"
        waiter.future = asyncio.get_running_loop().create_future()
        return _await_grant(session, ks, waiter, timeout, two_phase=False)

    return handle


async def _await_grant(
    session: Session, ks: KeyState, waiter: Waiter, wait_s: int, *, two_phase: bool
) -> str:
    keyspace = session.server.keyspace
    assert waiter.future is not None
    try:
        token, ttl = await asyncio.wait_for(waiter.future, wait_s)
    except asyncio.TimeoutError:
        if waiter.grant is None:
            keyspace.withdraw(ks, waiter)
            if two_phase:
                session.owner.enqueued.pop(ks.ident, None)
            return "timeout"
        token, ttl = waiter.grant  # granted in the same instant: the grant wins
    except asyncio.CancelledError:
        keyspace.withdraw(ks, waiter)  # a no-op once granted; closing releases the grant
        if two_phase:
            session.owner.enqueued.pop(ks.ident, None)
        raise
    waiter.future = None
    if two_phase:
        session.owner.enqueued.pop(ks.ident, None)
        holder = ks.holders.get(token)
        if holder is not None:  # `w` restarts the lease from the moment it answers
            keyspace.reset_lease(ks, token, holder, time.monotonic())
    return f"ok {token} {ttl}"


def _enqueue(semaphore: bool) -> Handler:
    def handle(session: Session, key: str, arg: str) -> Answer:
        key = _key(key)
        if semaphore:
            parts = arg.split()
            if not 1 <= len(parts) <= 2:
                raise Bad
            limit, ttl = _int(parts[0], 1), _ttl(parts, 1, session)
        else:
            stripped = arg.strip()  # `e` takes its one number from the whole line
            limit, ttl = 1, _int(stripped, 1) if stripped else _ttl([], 0, session)
        _refuse_on_follower(session)
        keyspace = session.server.keyspace
        ident = (keyspace.space(semaphore), key)
        if ident in session.owner.enqueued:
            return "error_already_enqueued"
        ks = keyspace.state(*ident, limit)
        grant = keyspace.try_grant(ks, session.owner, ttl)
        if grant is not None:
            session.owner.enqueued[ident] = Waiter(session.owner, ttl, grant=grant)
            return f"acquired {grant[0]} {grant[1]}"
        waiter = Waiter(session.owner, ttl)
        keyspace.queue(ks, waiter)
        session.owner.enqueued[ident] = waiter
        return "queued"

    return handle


def _wait(semaphore: bool) -> Handler:
    def handle(session: Session, key: str, arg: str) -> Answer:
        key = _key(key)
        stripped = arg.strip()
        if not stripped:
            raise Bad
        timeout = _int(stripped, 0)
        _refuse_on_follower(session)
        keyspace = session.server.keyspace
        ident = (keyspace.space(semaphore), key)
        waiter = session.owner.enqueued.get(ident)
        ks = keyspace.keys.get(ident)
        if waiter is None:
            return "error_not_enqueued"
        if waiter.grant is not None:
            del session.owner.enqueued[ident]
            token, ttl = waiter.grant
            holder = ks.holders.get(token) if ks else None
            if ks is None or holder is None:
                return "error_lease_expired"  # granted at `e`, swept before `w`
            now = time.monotonic()
            if holder.expires <= now:
                keyspace.release(ks, token)
                return "error_lease_expired"
            keyspace.reset_lease(ks, token, holder, now)  # `w` restarts the lease
            return f"ok {token} {ttl}"
        if ks is None:
            session.owner.enqueued.pop(ident, None)
            return "error"
        waiter.future = asyncio.get_running_loop().create_future()
        return _await_grant(session, ks, waiter, timeout, two_phase=True)

    return handle


def _release(semaphore: bool) -> Handler:
    def handle(session: Session, key: str, arg: str) -> Answer:
        key = _key(key)
        token = arg.strip()  # the whole line: a token with a space in it is simply unknown
        if not token:
            raise Bad
        _refuse_on_follower(session)
        keyspace = session.server.keyspace
        ks = keyspace.find(keyspace.space(semaphore), key)
        return "ok" if ks is not None and keyspace.release(ks, token) else "error"

    return handle


def _renew(semaphore: bool) -> Handler:
    def handle(session: Session, key: str, arg: str) -> Answer:
        key = _key(key)
        parts = arg.split()
        if not 1 <= len(parts) <= 2:
            raise Bad
        # Without a TTL dflockd renews to its default lease, not to the previous TTL.
        ttl = _ttl(parts, 1, session)
        _refuse_on_follower(session)
        keyspace = session.server.keyspace
        ks = keyspace.find(keyspace.space(semaphore), key)
        remaining = keyspace.renew(ks, parts[0], ttl) if ks else None
        return "error" if remaining is None else f"ok {remaining}"

    return handle


# -- signals (v1.11 to v1.16) -----------------------------------------------------------------


def _listen(session: Session, key: str, arg: str) -> Answer:
    subscription = (_pattern(key), arg.strip())
    if subscription in session.subscriptions:
        return "ok"  # dflockd ignores a repeated listen
    if len(session.subscriptions) >= session.server.config.max_subscriptions:
        raise Bad
    session.subscriptions.append(subscription)
    session.server.pubsub.add(session, *subscription)
    return "ok"


def _unlisten(session: Session, key: str, arg: str) -> Answer:
    subscription = (_pattern(key), arg.strip())
    if subscription in session.subscriptions:
        session.subscriptions.remove(subscription)
        session.server.pubsub.remove(session, *subscription)
    return "ok"  # also when nothing was subscribed, as dflockd answers


def _pattern(text: str) -> str:
    if not valid_pattern(_key(text)):
        raise Bad
    return text


def _signal(session: Session, key: str, arg: str) -> Answer:
    channel = _key(key)
    if not valid_channel(channel) or not arg.strip():
        raise Bad
    if len(f"sig {channel} {arg}".encode()) >= MAX_SIGNAL_LINE:
        raise Bad  # the pushed line must fit in a listener's line limit
    return f"ok {session.server.pubsub.publish(channel, arg)}"


def _auth(session: Session, key: str, arg: str) -> Answer:
    # dflockd has no `auth` command once a connection is in: it is an unknown request,
    # also on servers without a token.
    raise Bad


_HANDLERS: dict[str, Handler] = {
    "ping": _ping,
    "stats": _stats,
    "auth": _auth,
    "l": _acquire(False),
    "sl": _acquire(True),
    "e": _enqueue(False),
    "se": _enqueue(True),
    "w": _wait(False),
    "sw": _wait(True),
    "r": _release(False),
    "sr": _release(True),
    "n": _renew(False),
    "sn": _renew(True),
    "listen": _listen,
    "unlisten": _unlisten,
    "signal": _signal,
}
LOCK_COMMANDS = frozenset(_HANDLERS) - {"ping", "listen", "unlisten", "signal"}
SIGNAL_COMMANDS = frozenset({"listen", "unlisten", "signal"})
