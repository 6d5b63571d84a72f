"""One exception tree for the whole package.

Every class derives from `DflockError`, and from the built-in class a caller would
reach for: `LockTimeout` is a TimeoutError, `ServerUnavailable` a ConnectionError,
`AuthenticationError` a PermissionError, the configuration and key errors ValueErrors.
"""

from __future__ import annotations


class DflockError(Exception):
    """Base class of every error this package raises."""


class ConfigurationError(DflockError, ValueError):
    """Settings that cannot work, found at start-up; the message names the setting."""


class UnknownVariableError(ConfigurationError):
    """A `DFLOCK_*` variable that is not a setting but resembles one (a misspelling)."""


class InvalidKeyError(DflockError, ValueError):
    """A key, key template, channel or pattern that the protocol cannot carry."""


class LockTimeout(DflockError, TimeoutError):
    """A lock or semaphore slot was not granted within the acquire timeout."""

    def __init__(
        self, message: str, *, key: str = "", timeout_s: float = 0.0, limit: int | None = None
    ) -> None:
        super().__init__(message)
        self.key = key
        self.timeout_s = timeout_s
        self.limit = limit  # None for a lock, the slot count for a semaphore


class RateLimited(LockTimeout):
    """No admission within the wait; `retry_after_s` estimates when one may be had."""

    # Defaults, so that pickle (which passes only the message) can rebuild it: Celery
    # otherwise stores a task's RateLimited as its nearest picklable base, LockTimeout.
    def __init__(
        self, message: str, *, key: str = "", timeout_s: float = 0.0, retry_after_s: float = 0.0
    ) -> None:
        super().__init__(message, key=key, timeout_s=timeout_s)
        self.retry_after_s = retry_after_s


class ServerUnavailable(DflockError, ConnectionError):
    """A server could not be reached, refused us, or dropped the connection."""

    def __init__(self, message: str, *, server: str = "") -> None:
        super().__init__(message)
        self.server = server


class AuthenticationError(DflockError, PermissionError):
    """The server rejected the auth token (the token itself is never shown)."""


class LockLostError(DflockError):
    """A held lease ended without our release: renewal failed or the server went away."""

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class SignalsUnsupported(DflockError):
    """The server has no pub/sub signals (dflockd 2.x removed them)."""


class ServerError(DflockError):
    """The server answered with an error status this package does not map further."""


class MaxLocksError(ServerError):
    """The server's cap on distinct keys is reached."""


class MaxWaitersError(ServerError):
    """The server's cap on waiters for one key is reached."""


class LimitMismatchError(ServerError):
    """The key is in use as a lock or semaphore with another limit."""


class ProtocolError(DflockError):
    """The server sent something the protocol does not allow."""


def describe(exc: BaseException) -> str:
    """`ClassName: message` (or the class name alone) for a log line.

    `str(TimeoutError())` is empty: a log line built from it alone loses its reason.
    """
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


_REFUSALS: dict[str, tuple[type[ServerError], str]] = {
    "error_max_locks": (MaxLocksError, "the server's cap on distinct keys is reached"),
    "error_max_waiters": (MaxWaitersError, "the server's cap on waiters for this key is reached"),
    "error_limit_mismatch": (
        LimitMismatchError,
        "the key is in use with another limit (a semaphore of another size, or, before "
        "dflockd v1.14, a lock)",
    ),
}


def refusal(status: str, *, key: str, server: str) -> DflockError:
    """The exception for a status word a server answered instead of what was asked."""
    if status == "error_auth":
        return AuthenticationError(
            f"dflockd at {server} requires an auth token first; set DFLOCK_AUTH_TOKEN or "
            "DFLOCK_AUTH_TOKEN_FILE"
        )
    if status == "error_draining":
        return ServerUnavailable(f"dflockd at {server} is shutting down", server=server)
    known = _REFUSALS.get(status)
    if known is not None:
        cls, meaning = known
        return cls(f"dflockd at {server} refused key {key!r}: {meaning} ({status})")
    return ServerError(f"dflockd at {server} answered {status!r} for key {key!r}")
