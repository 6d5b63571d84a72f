"""Signals (dflockd v1.11 to v1.16): NATS-style patterns, listeners and queue groups.

Delivery follows upstream: a connection without a group receives a signal once,
however many of its patterns match; each (pattern, group) pair is a queue group
that delivers to one member, round robin. The count returned to the emitter is one
per plain listener plus one per group served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Listener(Protocol):
    id: int

    def push(self, line: bytes) -> bool:
        """Queue a `sig` line; False if the listener is too far behind and was dropped."""
        ...


def valid_pattern(pattern: str) -> bool:
    """`*` and `>` only as whole tokens, `>` only last (dflockd checks nothing else)."""
    tokens = pattern.split(".")
    for index, token in enumerate(tokens):
        if token == ">" and index != len(tokens) - 1:
            return False
        if token not in ("*", ">") and ("*" in token or ">" in token):
            return False
    return True


def valid_channel(channel: str) -> bool:
    return "*" not in channel and ">" not in channel


def compile_pattern(pattern: str) -> Callable[[list[str]], bool]:
    tokens = pattern.split(".")
    tail = tokens[-1] == ">"
    fixed = tokens[:-1] if tail else tokens

    def matches(channel: list[str]) -> bool:
        if tail:
            if len(channel) <= len(fixed):
                return False
        elif len(channel) != len(fixed):
            return False
        return all(p == "*" or p == c for p, c in zip(fixed, channel, strict=False))

    return matches


class Subscription:
    __slots__ = ("group", "matches", "members", "next_index", "pattern")

    def __init__(self, pattern: str, group: str) -> None:
        self.pattern = pattern
        self.group = group
        self.matches = compile_pattern(pattern)
        self.members: list[Listener] = []
        self.next_index = 0


class PubSub:
    def __init__(self) -> None:
        self._subs: dict[tuple[str, str], Subscription] = {}

    def add(self, listener: Listener, pattern: str, group: str) -> None:
        sub = self._subs.get((pattern, group))
        if sub is None:
            sub = self._subs[(pattern, group)] = Subscription(pattern, group)
        sub.members.append(listener)

    def remove(self, listener: Listener, pattern: str, group: str) -> bool:
        sub = self._subs.get((pattern, group))
        if sub is None or listener not in sub.members:
            return False
        sub.members.remove(listener)
        if not sub.members:
            del self._subs[(pattern, group)]
        return True

    def publish(self, channel: str, payload: str) -> int:
        """Deliver to every plain listener once and to one member of each group."""
        tokens = channel.split(".")
        line = f"sig {channel} {payload}\n".encode()
        delivered = 0
        plain_done: set[int] = set()
        for sub in list(self._subs.values()):
            if not sub.members or not sub.matches(tokens):
                continue
            if sub.group:
                while sub.members:
                    member = sub.members[sub.next_index % len(sub.members)]
                    sub.next_index += 1
                    if member.push(line):
                        delivered += 1
                        break
                continue
            for member in list(sub.members):
                if member.id not in plain_done:
                    plain_done.add(member.id)
                    if member.push(line):
                        delivered += 1
        return delivered

    def snapshot(self) -> list[dict[str, object]]:
        entries: list[dict[str, object]] = []
        for sub in self._subs.values():
            entry: dict[str, object] = {"pattern": sub.pattern}
            if sub.group:
                entry["group"] = sub.group
            entry["listeners"] = len(sub.members)
            entries.append(entry)
        return entries
