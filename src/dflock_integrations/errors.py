"""One exception tree for the whole package.

Every class derives from `DflockError`. Where dflockd-client already has a class
for the same condition, ours derives from it too, so code written against that
library keeps catching what it expects.
"""

from __future__ import annotations

import dflockd_client as _upstream


class DflockError(Exception):
    """Base class of every error this package raises."""


class ConfigurationError(DflockError, ValueError):
    """Settings that cannot work, found at start-up; the message names the setting."""


class UnknownVariableError(ConfigurationError):
    """A `DFLOCK_*` variable that is not a setting but resembles one (a misspelling)."""


class InvalidKeyError(DflockError, ValueError):
    """A key, key template, channel or pattern that the protocol cannot carry."""


class LockTimeout(DflockError, _upstream.DflockdTimeoutError):
    """A lock or semaphore slot was not granted within the acquire timeout."""

    def __init__(
        self, message: str, *, key: str = "", timeout_s: float = 0.0, limit: int | None = None
    ) -> None:
        super().__init__(message)
        self.key = key
        self.timeout_s = timeout_s
        self.limit = limit  # None for a lock, the slot count for a semaphore


class ServerUnavailable(DflockError, ConnectionError):
    """A server could not be reached, refused us, or dropped the connection."""

    def __init__(self, message: str, *, server: str = "") -> None:
        super().__init__(message)
        self.server = server


class AuthenticationError(DflockError, _upstream.AuthError, PermissionError):
    """The server rejected the auth token (the token itself is never shown)."""


class LockLostError(DflockError):
    """A held lease ended without our release: renewal failed or the server went away."""

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class SignalsUnsupported(DflockError):
    """The server has no pub/sub signals (dflockd 2.x removed them)."""


class ServerError(DflockError, _upstream.DflockdError):
    """The server answered with an error status this package does not map further."""


class MaxLocksError(ServerError, _upstream.MaxLocksError):
    """The server's cap on distinct keys is reached."""


class MaxWaitersError(ServerError, _upstream.MaxWaitersError):
    """The server's cap on waiters for one key is reached."""


class LimitMismatchError(ServerError, _upstream.LimitMismatchError):
    """The key is in use as a lock or semaphore with another limit."""


class ProtocolError(DflockError):
    """The server sent something the protocol does not allow."""


def describe(exc: BaseException) -> str:
    """`ClassName: message` (or the class name alone) for a log line.

    `str(TimeoutError())` is empty: a log line built from it alone loses its reason.
    """
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


_STATUS_CLASSES: tuple[tuple[type[Exception], type[ServerError]], ...] = (
    (_upstream.MaxLocksError, MaxLocksError),
    (_upstream.MaxWaitersError, MaxWaitersError),
    (_upstream.LimitMismatchError, LimitMismatchError),
)


def translate_status_error(exc: _upstream.DflockdError, *, key: str) -> DflockError:
    """Map a dflockd-client status error onto this package's tree, naming the key."""
    if isinstance(exc, _upstream.AuthError):
        return AuthenticationError(
            "the server requires an auth token first; set DFLOCK_AUTH_TOKEN or "
            "DFLOCK_AUTH_TOKEN_FILE"
        )
    for upstream_cls, ours in _STATUS_CLASSES:
        if isinstance(exc, upstream_cls):
            return ours(f"{exc} (key {key!r})")
    return ServerError(f"{exc} (key {key!r})")
