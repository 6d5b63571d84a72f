"""What the dflock management commands share: the client, and errors as CommandError."""

from __future__ import annotations

from django.core.management.base import CommandError

from dflock_integrations.cli import exit_codes
from dflock_integrations.client import SyncDflockClient
from dflock_integrations.django.clients import get_client
from dflock_integrations.errors import ConfigurationError, DflockError


def client_or_error() -> SyncDflockClient:
    """The process's client, or CommandError naming the bad setting (exit 78)."""
    try:
        return get_client()
    except ConfigurationError as exc:
        raise command_error(exc) from None


def command_error(exc: DflockError | ValueError) -> CommandError:
    """A CommandError for a failure, with `dflock`'s exit code for it."""
    code = exit_codes.exit_code_for(exc) if isinstance(exc, DflockError) else exit_codes.USAGE
    return CommandError(str(exc) or type(exc).__name__, returncode=code)
