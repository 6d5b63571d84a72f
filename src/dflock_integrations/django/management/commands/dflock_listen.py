"""`manage.py dflock_listen PATTERN [--group G] [--count N] [--json]`: print signals."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandParser

from dflock_integrations.django.management._base import (
    DflockCommand,
    client_or_error,
    command_error,
    number,
)
from dflock_integrations.errors import DflockError

_AT_LEAST_ONE = number(int, lambda n: n >= 1, "a count >= 1")


class Command(DflockCommand):
    help = (
        "Print signals whose channel matches PATTERN ('*' is one token, '>' the rest), "
        "one per line: CHANNEL PAYLOAD."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pattern", help="e.g. 'orders.*' or 'celery.failed.>'")
        parser.add_argument("--group", help="Queue group: each signal goes to one member.")
        parser.add_argument("--count", type=_AT_LEAST_ONE, help="Exit after this many signals.")
        parser.add_argument(
            "--json", action="store_true", help="Print each signal as a JSON object."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        client = client_or_error()
        count: int | None = options["count"]
        received = 0
        try:
            with client.listen(options["pattern"], group=options["group"]) as subscription:
                self.stderr.write(f"listening on {options['pattern']!r}", self.style.NOTICE)
                for signal in subscription:
                    if options["json"]:
                        line = json.dumps(
                            {
                                "channel": signal.channel,
                                "payload": signal.payload,
                                "server": signal.server,
                            }
                        )
                    else:
                        line = f"{signal.channel} {signal.payload}"
                    self.stdout.write(line)
                    self.stdout.flush()
                    received += 1
                    if count is not None and received >= count:
                        break
        except (DflockError, ValueError) as exc:
            raise command_error(exc) from None
        except KeyboardInterrupt:
            self.stdout.write("")
