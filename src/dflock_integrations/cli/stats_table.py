"""Stats as a text table and as a JSON document, shared by `dflock stats`,
`manage.py dflock_stats` and the Django admin page."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any

from dflock_integrations.client import Stats

# The JSON document's version; a field is only ever added to a version, never removed.
SCHEMA = 1
# Clear the terminal and go home: a watched table is redrawn in place.
CLEAR_SCREEN = "\x1b[H\x1b[2J"
# What each section's entries carry in the JSON document, whatever the server sent.
_FIELDS: dict[str, dict[str, Any]] = {
    "locks": {"key": "", "waiters": 0, "lease_expires_in_s": None, "owner_conn_id": None},
    "semaphores": {"key": "", "limit": None, "holders": 0, "waiters": 0},
    "idle_locks": {"key": "", "idle_s": None},
    "idle_semaphores": {"key": "", "idle_s": None},
    "signal_channels": {"pattern": "", "group": None, "listeners": 0},
}

HEADERS = ("SERVER", "KEY", "KIND", "HOLDERS/LIMIT", "WAITERS", "LEASE LEFT")


def stats_rows(stats: Stats) -> list[tuple[str, ...]]:
    """One row per held or idle key, locks first, in server then key order."""
    rows: list[tuple[str, ...]] = []
    for entry in sorted(stats.locks, key=lambda e: (e["server"], e["key"])):
        lease = entry.get("lease_expires_in_s")
        rows.append(
            (
                entry["server"],
                entry["key"],
                "lock",
                "1/1",
                str(entry.get("waiters", 0)),
                f"{lease:.1f}s" if isinstance(lease, int | float) else "-",
            )
        )
    for entry in sorted(stats.semaphores, key=lambda e: (e["server"], e["key"])):
        rows.append(
            (
                entry["server"],
                entry["key"],
                "semaphore",
                f"{entry.get('holders', 0)}/{entry.get('limit', '?')}",
                str(entry.get("waiters", 0)),
                "-",
            )
        )
    for kind, section in (
        ("lock (idle)", stats.idle_locks),
        ("semaphore (idle)", stats.idle_semaphores),
    ):
        for entry in sorted(section, key=lambda e: (e["server"], e["key"])):
            rows.append((entry["server"], entry["key"], kind, "0", "0", "-"))
    return rows


def render_stats(stats: Stats) -> str:
    """The table; empty when no server could be read (the caller names those).

    "No locks" is said only of the servers that answered: a server that could not
    be read is not an empty one.
    """
    rows = stats_rows(stats)
    lines = []
    if rows:
        widths = [max(len(row[i]) for row in (HEADERS, *rows)) for i in range(len(HEADERS))]
        for row in (HEADERS, *rows):
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    elif stats.connections:
        read = ", ".join(sorted(stats.connections))
        lines.append(f"no locks or semaphores on {read}")
    connections = ", ".join(f"{server}: {n}" for server, n in sorted(stats.connections.items()))
    if connections:
        lines.append(f"connections  {connections}")
    for entry in stats.signal_channels:
        group = f" group {entry['group']}" if entry.get("group") else ""
        lines.append(
            f"listeners    {entry['server']} {entry['pattern']}{group}: {entry.get('listeners', 0)}"
        )
    return "\n".join(line.rstrip() for line in lines)


def only_prefix(stats: Stats, prefix: str) -> Stats:
    """The entries whose key (a listener: its pattern) starts with `prefix`, as shown."""
    if not prefix:
        return stats

    def keep(entries: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
        return [e for e in entries if str(e.get(field, "")).startswith(prefix)]

    return dataclasses.replace(
        stats,
        locks=keep(stats.locks, "key"),
        semaphores=keep(stats.semaphores, "key"),
        idle_locks=keep(stats.idle_locks, "key"),
        idle_semaphores=keep(stats.idle_semaphores, "key"),
        signal_channels=keep(stats.signal_channels, "pattern"),
    )


def stats_document(stats: Stats, *, at: datetime | None = None) -> dict[str, Any]:
    """The stats as JSON of a fixed shape (docs/operations.md#live-stats): every entry
    has the documented fields, in server then key order, whichever server sent it."""
    moment = at or datetime.now(timezone.utc)
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "at": moment.isoformat(timespec="milliseconds"),
        "connections": dict(sorted(stats.connections.items())),
    }
    for section, fields in _FIELDS.items():
        order = "pattern" if section == "signal_channels" else "key"
        entries = sorted(getattr(stats, section), key=lambda e: (e["server"], str(e.get(order))))
        document[section] = [
            {"server": e["server"], **{f: e.get(f, default) for f, default in fields.items()}}
            for e in entries
        ]
    document["unreachable"] = dict(sorted(stats.unreachable.items()))
    return document


def watch_heading(interval_s: float, *, tty: bool) -> str:
    """The line above each redrawn table (a terminal is cleared first)."""
    now = datetime.now().strftime("%H:%M:%S")
    return f"{CLEAR_SCREEN if tty else ''}{now}  every {interval_s:g} s  (Ctrl-C to stop)"
