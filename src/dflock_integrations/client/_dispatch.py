"""Answers matched to requests in the order they were sent; pushes routed apart.

The protocol has no request ids: a connection's answers come back in the order of
its requests, and a listening connection also receives `sig` pushes in between.
Both kinds of connection (asyncio and blocking) feed their bytes to a `Dispatcher`,
so requests can be pipelined and pushes never taken for answers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from dflock_integrations import _protocol as protocol
from dflock_integrations.errors import ProtocolError

Outcome = protocol.Answer | BaseException
Receiver = asyncio.Future[protocol.Answer] | Callable[[Outcome], None]


def deliver(receiver: Receiver, outcome: Outcome) -> None:
    if isinstance(receiver, asyncio.Future):
        if receiver.done():
            return
        if isinstance(outcome, BaseException):
            receiver.set_exception(outcome)
        else:
            receiver.set_result(outcome)
    else:
        receiver(outcome)


class Dispatcher:
    __slots__ = ("_on_push", "_reader", "_waiting")

    def __init__(self, on_push: Callable[[protocol.Push], None] | None = None) -> None:
        self._reader = protocol.LineReader()
        self._waiting: deque[tuple[str, Receiver]] = deque()
        self._on_push = on_push

    @property
    def awaiting(self) -> int:
        """Requests sent whose answers have not arrived."""
        return len(self._waiting)

    def expect(self, kind: str, receiver: Receiver) -> None:
        self._waiting.append((kind, receiver))

    def feed(self, data: bytes) -> None:
        """Route what arrived; ProtocolError if it cannot be a dflockd answer."""
        for line in self._reader.feed(data):
            if self._on_push is not None:
                push = protocol.parse_push(line)
                if push is not None:
                    self._on_push(push)
                    continue
            if not self._waiting:
                raise ProtocolError(f"an answer nobody asked for arrived: {line[:120]!r}")
            kind, receiver = self._waiting.popleft()
            try:
                answer = protocol.parse(kind, line)
            except ProtocolError as exc:
                deliver(receiver, exc)
                raise  # the connection cannot be trusted with another answer
            deliver(receiver, answer)

    def fail_all(self, error: BaseException) -> None:
        while self._waiting:
            _, receiver = self._waiting.popleft()
            deliver(receiver, error)
