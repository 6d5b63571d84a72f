"""The `dflock` command: serve, stats, listen, emit, run.

Client commands read the same `DFLOCK_*` variables (and `.env`) as the library;
`--servers`, `--auth-token-file` and `--key-prefix` override them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any, NoReturn

import click

from dflock_integrations.errors import DflockError, LockLostError, LockTimeout
from dflock_integrations.server.cli import serve
from dflock_integrations.stats_table import render_stats

# Exit codes of `dflock run` besides the command's own.
EXIT_TIMEOUT = 75  # EX_TEMPFAIL: try again later
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE
EXIT_LOST = 70  # EX_SOFTWARE: the lease ended while the command ran


def _client(ctx: click.Context) -> Any:
    from dflock_integrations.client import SyncDflockClient
    from dflock_integrations.settings import DflockSettings

    overrides = {k: v for k, v in ctx.obj.items() if v is not None}
    try:
        return SyncDflockClient(DflockSettings(**overrides))
    except DflockError as exc:
        raise click.UsageError(str(exc)) from None


def _fail(exc: DflockError, code: int = 1) -> NoReturn:
    click.secho(f"dflock: {exc}", fg="red", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dflock-integrations", prog_name="dflock")
@click.option("--servers", help="host:port[,host:port...] (default: DFLOCK_SERVERS)")
@click.option("--auth-token-file", type=click.Path(dir_okay=False), help="File with the token.")
@click.option("--key-prefix", help="Namespace for keys and channels (default: DFLOCK_KEY_PREFIX)")
@click.pass_context
def main(
    ctx: click.Context, servers: str | None, auth_token_file: str | None, key_prefix: str | None
) -> None:
    """Locks, semaphores and signals on dflockd servers."""
    ctx.obj = {"servers": servers, "auth_token_file": auth_token_file, "key_prefix": key_prefix}


main.add_command(serve)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the merged stats as JSON.")
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Who holds what, and who waits, on every server."""
    with _client(ctx) as client:
        result = client.stats(tolerate_unreachable=True)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        click.echo(render_stats(result))
    for server, reason in result.unreachable.items():
        click.secho(f"dflock: {server} unreachable: {reason}", fg="red", err=True)
    if result.unreachable:
        sys.exit(EXIT_UNAVAILABLE)


@main.command()
@click.argument("pattern")
@click.option("--group", help="Queue group: each signal goes to one member of the group.")
@click.option("--count", type=click.IntRange(min=1), help="Exit after this many signals.")
@click.pass_context
def listen(ctx: click.Context, pattern: str, group: str | None, count: int | None) -> None:
    """Print signals whose channel matches PATTERN (`*` one token, `>` the rest)."""
    received = 0
    try:
        with _client(ctx) as client, client.listen(pattern, group=group) as subscription:
            click.secho(f"listening on {pattern!r}", err=True, dim=True)
            for sig in subscription:
                click.echo(f"{sig.channel} {sig.payload}")
                received += 1
                if count is not None and received >= count:
                    break
    except DflockError as exc:
        _fail(exc, EXIT_UNAVAILABLE)
    except KeyboardInterrupt:
        sys.exit(130)


@main.command()
@click.argument("channel")
@click.argument("payload")
@click.pass_context
def emit(ctx: click.Context, channel: str, payload: str) -> None:
    """Send PAYLOAD on CHANNEL and print how many listeners got it."""
    try:
        with _client(ctx) as client:
            click.echo(client.emit(channel, payload))
    except (DflockError, ValueError) as exc:
        _fail(exc if isinstance(exc, DflockError) else DflockError(str(exc)))


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.option("--limit", type=click.IntRange(min=1), help="Hold one of LIMIT semaphore slots.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Seconds to wait for the grant.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def run(
    ctx: click.Context, key: str, limit: int | None, timeout: float | None, command: tuple[str, ...]
) -> None:
    """Run COMMAND while holding KEY; exits with the command's own status.

    Example: dflock run nightly-backup --timeout 0 -- ./backup.sh

    Exits 75 when KEY is not granted in time, 69 when no server answers, and 70 when
    the lease is lost while the command runs (the command is then terminated).
    """
    try:
        with (
            _client(ctx) as client,
            client.lease(key, limit=limit, acquire_timeout_s=timeout) as handle,
        ):
            code = _run_child(command, handle)
    except LockTimeout as exc:
        _fail(exc, EXIT_TIMEOUT)
    except LockLostError as exc:
        _fail(exc, EXIT_LOST)
    except DflockError as exc:
        _fail(exc, EXIT_UNAVAILABLE)
    else:
        sys.exit(code)


def _run_child(command: tuple[str, ...], handle: Any) -> int:
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        raise click.UsageError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from None
    handle.on_lost(lambda _handle: child.terminate())
    try:
        return child.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the child too; give it time to finish its cleanup.
        try:
            return child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
            return 130
