"""What each way of failing to talk to a server is called, the same for async and sync."""

from __future__ import annotations

from dflock_integrations import _protocol as protocol
from dflock_integrations.errors import AuthenticationError, ServerUnavailable


def connect_failed(server: str, connect_timeout_s: float, exc: BaseException) -> ServerUnavailable:
    if isinstance(exc, TimeoutError):
        return ServerUnavailable(
            f"dflockd at {server} did not accept a connection within {connect_timeout_s:g} s",
            server=server,
        )
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return ServerUnavailable(f"cannot connect to dflockd at {server}: {reason}", server=server)


def connection_lost(server: str, exc: BaseException | None = None) -> ServerUnavailable:
    reason = f": {exc}" if exc is not None and str(exc) else ""
    return ServerUnavailable(
        f"the connection to dflockd at {server} was closed{reason}", server=server
    )


def no_answer(server: str, waited_s: float) -> ServerUnavailable:
    return ServerUnavailable(
        f"dflockd at {server} did not answer within {waited_s:.3g} s", server=server
    )


def check_auth(server: str, answer: protocol.Answer) -> None:
    """An `auth` answer: `ok`, or an error that says what to fix (never the token)."""
    if isinstance(answer, protocol.Done):
        return
    if isinstance(answer, protocol.Refused) and answer.status == "error":
        raise AuthenticationError(
            f"dflockd at {server} has no auth token configured, yet DFLOCK_AUTH_TOKEN (or "
            "_FILE) is set; unset it, or start the server with --auth-token-file"
        )
    raise AuthenticationError(
        f"dflockd at {server} rejected the auth token (check DFLOCK_AUTH_TOKEN)"
    )
