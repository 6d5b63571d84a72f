"""`manage.py dflock_stats [--json] [--watch SECONDS]`: who holds what, and who waits."""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser

from dflock_integrations.cli.exit_codes import UNAVAILABLE
from dflock_integrations.cli.stats_table import render_stats
from dflock_integrations.client import Stats, SyncDflockClient
from dflock_integrations.django.management._base import (
    DflockCommand,
    client_or_error,
    command_error,
    number,
)
from dflock_integrations.errors import DflockError

_CLEAR_SCREEN = "\x1b[H\x1b[2J"


_SECONDS = number(float, lambda s: s > 0, "a number of seconds > 0")


class Command(DflockCommand):
    help = (
        "Show the locks, semaphores and waiters on every dflock server. "
        "Exits 69 when a server is unreachable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the stats as JSON.")
        parser.add_argument(
            "--watch",
            type=_SECONDS,
            metavar="SECONDS",
            help="Show the stats again every SECONDS until Ctrl-C.",
        )
        # For tests and scripts: stop watching after N rounds.
        parser.add_argument("--iterations", type=int, default=None, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        client = client_or_error()
        watch: float | None = options["watch"]
        iterations: int | None = options["iterations"]
        if watch is None:
            iterations = 1
        rounds = 0
        stats: Stats | None = None
        try:
            while iterations is None or rounds < iterations:
                if rounds:
                    time.sleep(watch or 0)
                stats = self._fetch(client)
                self._show(stats, as_json=options["json"], watching=watch is not None)
                rounds += 1
        except KeyboardInterrupt:
            self.stdout.write("")
        if stats is not None and stats.unreachable:
            servers = ", ".join(sorted(stats.unreachable))
            raise CommandError(f"unreachable: {servers}", returncode=UNAVAILABLE)

    def _fetch(self, client: SyncDflockClient) -> Stats:
        try:
            return client.stats(tolerate_unreachable=True)
        except DflockError as exc:
            raise command_error(exc) from None

    def _show(self, stats: Stats, *, as_json: bool, watching: bool) -> None:
        if as_json:
            # Watching prints one document per line, so the output can be streamed.
            indent = None if watching else 2
            self.stdout.write(json.dumps(stats.to_dict(), indent=indent, sort_keys=True))
        else:
            if watching:
                clear = _CLEAR_SCREEN if self.stdout.isatty() else ""
                now = datetime.now().strftime("%H:%M:%S")
                self.stdout.write(f"{clear}{now}  (Ctrl-C to stop)")
            table = render_stats(stats)  # empty when no server could be read
            if table:
                self.stdout.write(table)
        for server, reason in sorted(stats.unreachable.items()):
            self.stderr.write(self.style.ERROR(f"{server} unreachable: {reason}"))
        self.stdout.flush()
