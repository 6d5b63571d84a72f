"""What the dflock management commands share: the client, and errors as CommandError."""

from __future__ import annotations

from django.core.management.base import CommandError

from dflock_integrations.client import SyncDflockClient
from dflock_integrations.django.clients import get_client
from dflock_integrations.errors import ConfigurationError, DflockError, ServerUnavailable

# Exit codes, as `dflock` uses them.
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: no server answered


def client_or_error() -> SyncDflockClient:
    """The process's client, or CommandError naming the bad setting."""
    try:
        return get_client()
    except ConfigurationError as exc:
        raise CommandError(str(exc)) from None


def command_error(exc: DflockError | ValueError) -> CommandError:
    """A CommandError for a failed request; 69 when the server could not be reached."""
    code = EXIT_UNAVAILABLE if isinstance(exc, ServerUnavailable) else 1
    return CommandError(str(exc), returncode=code)
