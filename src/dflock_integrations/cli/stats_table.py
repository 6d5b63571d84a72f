"""Stats as a plain-text table, shared by `dflock stats` and `manage.py dflock_stats`."""

from __future__ import annotations

from dflock_integrations.client import Stats

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
