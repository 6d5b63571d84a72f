"""The dflockd wire protocol without I/O: requests to bytes, answer lines to typed values.

Every request is three lines (command, key, argument); every answer one line, a
status word and fields. Servers v1.11 to v1.16 also push `sig <channel> <payload>`
lines between answers. This module is the only place that frames or reads a line:
connections feed it bytes and get lines back, and each request names the kind of
answer it expects, which `parse()` turns into one of the classes below, or a
`Refused` carrying the server's status word. An answer that fits no kind raises
`ProtocolError` naming what arrived.

Answers of every generation are understood: v1.10 to v2.1 and upstream's cluster
mode (`error_not_leader [host:port]`, `error_draining`, `error_lease_expired`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from dflock_integrations.errors import ProtocolError

# The server's own limits on request lines (an auth token or a signal payload: 64 KiB).
MAX_REQUEST_LINE: Final = 256
MAX_BIG_REQUEST_LINE: Final = 64 * 1024
# Answers are ours to bound: a stats answer on a busy server runs to megabytes.
MAX_ANSWER_LINE: Final = 64 * 1024 * 1024
PUSH_PREFIX: Final = "sig "


# -- requests ------------------------------------------------------------------------------


def encode(cmd: str, key: str, arg: str = "") -> bytes:
    """One request; the caller has checked that no part holds a line break."""
    return f"{cmd}\n{key}\n{arg}\n".encode()


def acquire(key: str, timeout_s: int, lease_s: int, limit: int | None) -> bytes:
    if limit is None:
        return encode("l", key, f"{timeout_s} {lease_s}")
    return encode("sl", key, f"{timeout_s} {limit} {lease_s}")


def enqueue(key: str, lease_s: int, limit: int | None) -> bytes:
    if limit is None:
        return encode("e", key, str(lease_s))
    return encode("se", key, f"{limit} {lease_s}")


def wait(key: str, timeout_s: int, limit: int | None) -> bytes:
    return encode("w" if limit is None else "sw", key, str(timeout_s))


def release(key: str, token: str, limit: int | None) -> bytes:
    return encode("r" if limit is None else "sr", key, token)


def renew(key: str, token: str, lease_s: int, limit: int | None) -> bytes:
    return encode("n" if limit is None else "sn", key, f"{token} {lease_s}")


def auth(token: str) -> bytes:
    return encode("auth", "_", token)


PING: Final = encode("ping", "_", "")
STATS: Final = encode("stats", "_", "")


def listen(pattern: str, group: str | None) -> bytes:
    return encode("listen", pattern, group or "")


def unlisten(pattern: str, group: str | None) -> bytes:
    return encode("unlisten", pattern, group or "")


def signal(channel: str, payload: str) -> bytes:
    return encode("signal", channel, payload)


# dflockd from v1.15 closes a connection that has more than 4 KiB queued behind a
# request that blocks; pipelined requests that may block go out in batches under this.
MAX_PIPELINED_BYTES: Final = 3000


def batches(requests: list[bytes]) -> list[list[bytes]]:
    """`requests` in consecutive batches of at most MAX_PIPELINED_BYTES (at least one each)."""
    found: list[list[bytes]] = []
    size = MAX_PIPELINED_BYTES
    for request in requests:
        if size + len(request) > MAX_PIPELINED_BYTES:
            found.append([])
            size = 0
        found[-1].append(request)
        size += len(request)
    return found


# -- answers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Granted:
    """`ok <token> <lease>` (or `acquired ...` to an enqueue): the slot is ours."""

    token: str
    lease_s: int


@dataclass(frozen=True)
class Queued:
    """`queued`: an enqueue joined the line; `wait` follows."""


@dataclass(frozen=True)
class TimedOut:
    """`timeout`: nothing was granted within the wait asked for."""


@dataclass(frozen=True)
class Renewed:
    lease_s: int


@dataclass(frozen=True)
class Done:
    """A bare `ok`: release, auth, ping, listen, unlisten."""


@dataclass(frozen=True)
class StatsAnswer:
    data: dict[str, Any]


@dataclass(frozen=True)
class Delivered:
    """`ok <n>` to a signal: how many listeners it reached."""

    receivers: int


@dataclass(frozen=True)
class Refused:
    """A status word instead of what was asked: `error`, `error_auth`, `error_max_locks`,
    `error_not_leader [host:port]`, ... (`leader` is that address, when one is named)."""

    status: str
    leader: str | None = None


@dataclass(frozen=True)
class Push:
    """`sig <channel> <payload>`, pushed to a listening connection at any time."""

    channel: str
    payload: str


Answer = Granted | Queued | TimedOut | Renewed | Done | StatsAnswer | Delivered | Refused

# What a request expects back; `parse` takes one of these.
GRANT: Final = "grant"  # l sl w sw
ENQUEUE: Final = "enqueue"  # e se
RENEW: Final = "renew"  # n sn
DONE: Final = "done"  # r sr auth ping listen unlisten
STATS_KIND: Final = "stats"
SIGNAL_KIND: Final = "signal"

_TIMED_OUT: Final = TimedOut()
_QUEUED: Final = Queued()
_DONE: Final = Done()


def parse(kind: str, line: str) -> Answer:
    """The answer `line` to a request expecting `kind`; ProtocolError if it fits none."""
    head, _, rest = line.partition(" ")
    if head == "ok" or (head == "acquired" and kind == ENQUEUE):
        answer = _parse_ok(kind, rest)
        if answer is not None:
            return answer
    elif head == "timeout" and not rest and kind == GRANT:
        return _TIMED_OUT
    elif head == "queued" and not rest and kind == ENQUEUE:
        return _QUEUED
    elif head == "error" or head.startswith("error_"):
        if head == "error_not_leader":
            return Refused(head, rest or None)
        if not rest:
            return Refused(head)
    raise ProtocolError(f"unexpected answer {_shown(line)} to a {kind} request")


def _parse_ok(kind: str, rest: str) -> Answer | None:
    if kind in (GRANT, ENQUEUE):
        token, _, lease = rest.partition(" ")
        if token and lease.isdigit():
            return Granted(token, int(lease))
    elif kind == DONE:
        if not rest:
            return _DONE
    elif kind in (RENEW, SIGNAL_KIND):
        if rest.isdigit():
            return Renewed(int(rest)) if kind == RENEW else Delivered(int(rest))
    elif kind == STATS_KIND:
        try:
            data = json.loads(rest)
        except ValueError:
            return None
        if isinstance(data, dict):
            return StatsAnswer(data)
    return None


def parse_push(line: str) -> Push | None:
    """The push in `line`, or None if it is an answer (no answer begins with `sig `)."""
    if not line.startswith(PUSH_PREFIX):
        return None
    channel, _, payload = line[len(PUSH_PREFIX) :].partition(" ")
    return Push(channel, payload)


def _shown(line: str) -> str:
    return repr(line if len(line) <= 120 else line[:120] + "...")


class LineReader:
    """Bytes in, complete lines out (without `\\n` or a trailing `\\r`)."""

    __slots__ = ("_buffer", "_limit")

    def __init__(self, limit: int = MAX_ANSWER_LINE) -> None:
        self._buffer = b""
        self._limit = limit

    def feed(self, data: bytes) -> list[str]:
        buffer = self._buffer + data if self._buffer else data
        if b"\n" not in buffer:
            self._check(buffer)
            self._buffer = buffer
            return []
        *lines, self._buffer = buffer.split(b"\n")
        self._check(self._buffer)
        return [line.rstrip(b"\r").decode("utf-8", "replace") for line in lines]

    @property
    def pending(self) -> bool:
        """Part of a line has arrived."""
        return bool(self._buffer)

    def _check(self, partial: bytes) -> None:
        if len(partial) > self._limit:
            raise ProtocolError(f"an answer line longer than {self._limit} bytes arrived")
