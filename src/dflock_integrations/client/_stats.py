"""Stats from every server, merged into one view that names each entry's server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dflock_integrations.client._fencing import PROBE_KEY

SECTIONS = ("locks", "semaphores", "idle_locks", "idle_semaphores", "signal_channels")


@dataclass(frozen=True)
class Stats:
    """What the servers hold. Every entry carries a `"server"` field (`host:port`)."""

    connections: dict[str, int] = field(default_factory=dict)
    locks: list[dict[str, Any]] = field(default_factory=list)
    semaphores: list[dict[str, Any]] = field(default_factory=list)
    idle_locks: list[dict[str, Any]] = field(default_factory=list)
    idle_semaphores: list[dict[str, Any]] = field(default_factory=list)
    signal_channels: list[dict[str, Any]] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)

    @classmethod
    def merge(cls, answers: dict[str, dict[str, Any]], failures: dict[str, str]) -> Stats:
        merged = cls(unreachable=dict(failures))
        for server, answer in answers.items():
            merged.connections[server] = int(answer.get("connections", 0))
            for section in SECTIONS:
                target: list[dict[str, Any]] = getattr(merged, section)
                target.extend(
                    {**entry, "server": server}
                    for entry in answer.get(section, ()) or ()
                    if not str(entry.get("key", "")).endswith(PROBE_KEY)  # ours, not yours
                )
        return merged

    def to_dict(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            **{section: getattr(self, section) for section in SECTIONS},
            "unreachable": self.unreachable,
        }

    def find(self, key: str) -> dict[str, Any] | None:
        """The lock or semaphore entry for a key as sent (with its prefix), if held."""
        return next((e for e in (*self.locks, *self.semaphores) if e.get("key") == key), None)
