"""`dflock serve`: the embedded server, with dflockd's flag names and DFLOCKD_* variables."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from dflock_integrations.server._listener import DflockServer
from dflock_integrations.server._options import ServerConfig
from dflock_integrations.server._profiles import CHOICES, DEFAULT

F = TypeVar("F", bound=Callable[..., Any])


# dflockd's own flags, each also read from its DFLOCKD_* variable (dflockd's names).
_SECONDS = click.FloatRange(min=0, min_open=True)
_DFLOCKD_FLAGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--host", "HOST", {"default": "127.0.0.1", "help": "Address to bind."}),
    ("--port", "PORT", {"type": click.IntRange(0, 65535), "default": 6388}),
    ("--auth-token", "AUTH_TOKEN", {"help": "Clients must send this token first."}),
    (
        "--auth-token-file",
        "AUTH_TOKEN_FILE",
        {"type": click.Path(exists=True, dir_okay=False, path_type=Path)},
    ),
    ("--tls-cert", "TLS_CERT", {"type": click.Path(exists=True, dir_okay=False)}),
    ("--tls-key", "TLS_KEY", {"type": click.Path(exists=True, dir_okay=False)}),
    (
        "--default-lease-ttl",
        "DEFAULT_LEASE_TTL_S",
        {"type": click.IntRange(min=1), "default": 33, "help": "Seconds."},
    ),
    ("--lease-sweep-interval", "LEASE_SWEEP_INTERVAL_S", {"type": _SECONDS, "default": 1.0}),
    ("--gc-interval", "GC_LOOP_SLEEP", {"type": _SECONDS, "default": 5.0}),
    ("--gc-max-idle", "GC_MAX_UNUSED_TIME", {"type": click.FloatRange(min=0), "default": 60.0}),
    (
        "--max-locks",
        "MAX_LOCKS",
        {"type": click.IntRange(min=0), "default": 1024, "help": "Distinct keys; 0 for no limit."},
    ),
    (
        "--max-waiters",
        "MAX_WAITERS",
        {"type": click.IntRange(min=0), "default": 0, "help": "Per key; 0 for no limit."},
    ),
    (
        "--max-connections",
        "MAX_CONNECTIONS",
        {"type": click.IntRange(min=0), "default": 0, "help": "0 for no limit."},
    ),
    (
        "--max-subscriptions",
        "MAX_SUBSCRIPTIONS",
        {
            "type": click.IntRange(min=0),
            "default": 1024,
            "help": "Listen patterns per connection.",
        },
    ),
    (
        "--read-timeout",
        "READ_TIMEOUT_S",
        {
            "type": _SECONDS,
            "default": 23.0,
            "help": "Idle seconds before a connection is closed.",
        },
    ),
    ("--write-timeout", "WRITE_TIMEOUT_S", {"type": _SECONDS, "default": 5.0}),
    (
        "--shutdown-timeout",
        "SHUTDOWN_TIMEOUT_S",
        {"type": click.FloatRange(min=0), "default": 30.0},
    ),
)


def _dflockd_flags(command: F) -> F:
    """dflockd's flags on `command`; a default is shown unless it is 0 (no limit)."""
    for flag, env, settings in reversed(_DFLOCKD_FLAGS):
        shown = bool(settings.get("default"))
        option = click.option(
            flag, envvar=f"DFLOCKD_{env}", show_envvar=True, show_default=shown, **settings
        )
        command = option(command)
    return command


@click.command()
@_dflockd_flags
@click.option(
    "--compat",
    type=click.Choice(CHOICES),
    default=DEFAULT,
    show_default=True,
    envvar="DFLOCK_SERVE_COMPAT",
    show_envvar=True,
    help="Answer as this dflockd generation does (tokens, ping, signals, errors).",
)
@click.option(
    "--follower-of",
    metavar="HOST:PORT",
    envvar="DFLOCK_SERVE_FOLLOWER_OF",
    help="Answer as a cluster follower: mutating requests get `error_not_leader HOST:PORT` "
    "(an empty value: no leader known).",
)
def serve(**options: Any) -> None:
    """Run a dflockd-compatible server (development and tests; production runs dflockd).

    Without --host/--port (or DFLOCKD_HOST/DFLOCKD_PORT) it listens where DFLOCK_SERVERS
    points when that names one server, and takes DFLOCK_AUTH_TOKEN(_FILE) as its token
    when no DFLOCKD_AUTH_TOKEN(_FILE) is given, so it matches the clients' settings.
    SIGTERM and SIGINT drain as dflockd does, within --shutdown-timeout.
    """
    ctx = click.get_current_context()
    _take_client_settings(ctx, options)
    names = {
        "default_lease_ttl": "default_lease_ttl_s",
        "lease_sweep_interval": "lease_sweep_interval_s",
        "gc_interval": "gc_interval_s",
        "gc_max_idle": "gc_max_idle_s",
        "read_timeout": "read_timeout_s",
        "write_timeout": "write_timeout_s",
        "shutdown_timeout": "shutdown_timeout_s",
    }
    try:
        config = ServerConfig(**{names.get(k, k): v for k, v in options.items()})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(_serve(config))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {config.host}:{config.port}: {exc}") from None


def _take_client_settings(ctx: click.Context, options: dict[str, Any]) -> None:
    """Fill the address and token from the clients' DFLOCK_* settings where none was given."""
    from click.core import ParameterSource

    def defaulted(name: str) -> bool:
        return ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, None)

    servers = os.environ.get("DFLOCK_SERVERS", "").strip()
    if servers and defaulted("host") and defaulted("port"):
        from dflock_integrations.settings import ServerAddress, _split_servers

        try:
            addresses: list[ServerAddress] = _split_servers(servers)
        except ValueError as exc:
            raise click.UsageError(f"DFLOCK_SERVERS: {exc}") from None
        if len(addresses) > 1:
            raise click.UsageError(
                f"DFLOCK_SERVERS names {len(addresses)} servers; one `dflock serve` listens "
                "on one address: pass --host and --port"
            )
        options["host"], options["port"] = addresses[0].host, addresses[0].port
    if defaulted("auth_token") and defaulted("auth_token_file"):
        if os.environ.get("DFLOCK_AUTH_TOKEN"):
            options["auth_token"] = os.environ["DFLOCK_AUTH_TOKEN"]
        elif os.environ.get("DFLOCK_AUTH_TOKEN_FILE"):
            options["auth_token_file"] = Path(os.environ["DFLOCK_AUTH_TOKEN_FILE"])


async def _serve(config: ServerConfig) -> None:
    server = DflockServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    logging.getLogger("dflock_integrations.server").info("shutting down")
    await server.close(drain=True)
