"""What the dflock management commands share: the client, and errors as CommandError."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from django.core.management.base import BaseCommand, CommandError

from dflock_integrations.cli import exit_codes
from dflock_integrations.client import SyncDflockClient
from dflock_integrations.django.clients import get_client
from dflock_integrations.errors import ConfigurationError, DflockError

N = TypeVar("N", int, float)


class DflockCommand(BaseCommand):
    """A dflock command: it runs without Django's system checks, because it is how one
    finds out what is wrong with a project whose checks fail."""

    requires_system_checks: list[str] = []


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


def number(
    convert: Callable[[str], N], ok: Callable[[N], bool], expected: str
) -> Callable[[str], N]:
    """An argparse type: `convert(text)`, refused as not `expected` unless `ok(value)`."""

    def parse(text: str) -> N:
        value = convert(text)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse
