"""Deprecated: moved to `dflock_integrations.cli.exit_codes`."""

from dflock_integrations._deprecated import moved
from dflock_integrations.cli.exit_codes import (
    CANNOT_EXECUTE,
    CONFIG,
    NOPERM,
    NOT_FOUND,
    PROTOCOL,
    SIGNALLED,
    SOFTWARE,
    TEMPFAIL,
    UNAVAILABLE,
    USAGE,
    exit_code_for,
)

__all__ = [
    "CANNOT_EXECUTE",
    "CONFIG",
    "NOPERM",
    "NOT_FOUND",
    "PROTOCOL",
    "SIGNALLED",
    "SOFTWARE",
    "TEMPFAIL",
    "UNAVAILABLE",
    "USAGE",
    "exit_code_for",
]

moved(__name__, "dflock_integrations.cli.exit_codes")
