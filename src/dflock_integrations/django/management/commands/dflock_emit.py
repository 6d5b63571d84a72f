"""`manage.py dflock_emit CHANNEL PAYLOAD`: send a signal, print how many got it
(nothing on stdout where the transport does not tell: NATS)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from dflock_integrations.django.management._base import (
    DflockCommand,
    client_or_error,
    command_error,
)
from dflock_integrations.errors import DflockError


class Command(DflockCommand):
    help = "Send PAYLOAD on CHANNEL and print the number of listeners it reached."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("channel", help="Dot-separated tokens, e.g. 'orders.paid'.")
        parser.add_argument("payload", help="Sent as is; one line.")

    def handle(self, *args: Any, **options: Any) -> None:
        client = client_or_error()
        try:
            delivered = client.emit(options["channel"], options["payload"])
        except (DflockError, ValueError) as exc:
            raise command_error(exc) from None
        if delivered is None:  # NATS does not tell a publisher who got it
            self.stderr.write("sent; the broker does not tell how many listeners got it")
        else:
            self.stdout.write(str(delivered))
