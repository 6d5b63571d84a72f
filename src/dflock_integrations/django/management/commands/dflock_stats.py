"""`manage.py dflock_stats [--json] [--watch [SECONDS]] [--prefix P]`: who holds what."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from django.core.management.base import CommandError, CommandParser

from dflock_integrations.cli.exit_codes import UNAVAILABLE
from dflock_integrations.cli.stats_table import (
    only_prefix,
    render_stats,
    stats_document,
    watch_heading,
)
from dflock_integrations.client import Stats, SyncDflockClient
from dflock_integrations.django.management._base import (
    DflockCommand,
    client_or_error,
    command_error,
    number,
)
from dflock_integrations.errors import DflockError

DEFAULT_WATCH_S = 2.0
_SECONDS = number(float, lambda s: s > 0, "a number of seconds > 0")


class Command(DflockCommand):
    help = (
        "Show the locks, semaphores and waiters on every dflock server. "
        "Exits 69 when a server is unreachable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json", action="store_true", help="Print the stats as JSON (one line each round)."
        )
        parser.add_argument(
            "--watch",
            type=_SECONDS,
            nargs="?",
            const=DEFAULT_WATCH_S,
            metavar="SECONDS",
            help=f"Show the stats again every SECONDS ({DEFAULT_WATCH_S:g} if not given) "
            "until Ctrl-C.",
        )
        parser.add_argument(
            "--prefix", default="", help="Only keys (and listener patterns) starting with this."
        )
        # For tests and scripts: stop watching after N rounds.
        parser.add_argument("--iterations", type=int, default=None, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        client = client_or_error()
        watch: float | None = options["watch"]
        rounds: int | None = 1 if watch is None else options["iterations"]
        stats: Stats | None = None
        done = 0
        try:
            while rounds is None or done < rounds:
                if done:
                    time.sleep(watch or 0)
                stats = only_prefix(self._fetch(client), options["prefix"])
                self._show(stats, as_json=options["json"], watch=watch)
                done += 1
        except KeyboardInterrupt:
            self.stdout.write("")
            return  # the way a watch ends: status 0
        if stats is not None and stats.unreachable:
            servers = ", ".join(sorted(stats.unreachable))
            raise CommandError(f"unreachable: {servers}", returncode=UNAVAILABLE)

    def _fetch(self, client: SyncDflockClient) -> Stats:
        try:
            return client.stats(tolerate_unreachable=True)
        except DflockError as exc:
            raise command_error(exc) from None

    def _show(self, stats: Stats, *, as_json: bool, watch: float | None) -> None:
        if as_json:
            # Watching prints one document per line, so the output can be streamed.
            indent = None if watch is not None else 2
            self.stdout.write(json.dumps(stats_document(stats), indent=indent))
        else:
            if watch is not None:
                self.stdout.write(watch_heading(watch, tty=self.stdout.isatty()))
            table = render_stats(stats)  # empty when no server could be read
            if table:
                self.stdout.write(table)
        for server, reason in sorted(stats.unreachable.items()):
            self.stderr.write(self.style.ERROR(f"{server} unreachable: {reason}"))
        self.stdout.flush()
