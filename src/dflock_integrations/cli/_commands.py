"""The `dflock` command: serve, stats, health, listen, emit, run.

Client commands read the same `DFLOCK_*` variables as the library; `--servers`,
`--auth-token-file`, `--key-prefix` and `--env-file` override them, before the
subcommand or after it. A failure prints one line and exits with a code of
`dflock_integrations.cli.exit_codes`, never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from dflock_integrations.cli import exit_codes
from dflock_integrations.cli._supervise import DEFAULT_GRACE_S, CannotRun, Child, check_runnable
from dflock_integrations.cli.stats_table import (
    only_prefix,
    render_stats,
    stats_document,
    watch_heading,
)
from dflock_integrations.errors import DflockError, InvalidKeyError, LockLostError
from dflock_integrations.server.cli import serve

if TYPE_CHECKING:
    from dflock_integrations.client import Stats
    from dflock_integrations.settings import DflockSettings

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_WATCH_S = 2.0


def _fail(problem: Exception, code: int) -> NoReturn:
    click.secho(f"dflock: {str(problem) or type(problem).__name__}", fg="red", err=True)
    sys.exit(code)


class _Commands(click.Group):
    """Turns every subcommand's dflock failure into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidKeyError as exc:
            # A key or channel given on the command line: a usage error, as click's are.
            raise click.UsageError(str(exc)) from None
        except DflockError as exc:
            _fail(exc, exit_codes.exit_code_for(exc))


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    # Given before the subcommand or after it; the one after wins.
    if value is not None:
        ctx.ensure_object(dict)[param.name] = value


def connection_options(command: F) -> F:
    """`--servers`, `--auth-token-file`, `--key-prefix`, `--env-file`, for the group and
    for each client subcommand alike; their values are collected in `ctx.obj`."""
    common: dict[str, Any] = {"expose_value": False, "callback": _remember}
    options = (
        click.option(
            "--servers", help="host:port[,host:port...] (default: DFLOCK_SERVERS)", **common
        ),
        click.option(
            "--auth-token-file",
            type=click.Path(dir_okay=False),
            help="File with the auth token.",
            **common,
        ),
        click.option(
            "--key-prefix",
            help="Namespace for keys and channels (default: DFLOCK_KEY_PREFIX)",
            **common,
        ),
        click.option(
            "--env-file",
            type=click.Path(exists=True, dir_okay=False),
            help="Also read DFLOCK_* variables from this file (the environment wins).",
            **common,
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _settings(ctx: click.Context) -> DflockSettings:
    from dflock_integrations.settings import DflockSettings

    given = dict(ctx.ensure_object(dict))
    if "env_file" in given:
        given["_env_file"] = given.pop("env_file")
    return DflockSettings(**given)  # a ConfigurationError exits 78


def _client(ctx: click.Context) -> Any:
    from dflock_integrations.client import SyncDflockClient

    return SyncDflockClient(_settings(ctx))


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dflock-integrations", prog_name="dflock")
@connection_options
@click.pass_context
def main(ctx: click.Context) -> None:
    """Locks, semaphores and signals on dflockd servers."""
    ctx.ensure_object(dict)  # shared with the subcommand, whose options may add to it


main.add_command(serve)


@main.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Print the stats as JSON (one line each round)."
)
@click.option(
    "--watch",
    type=click.FloatRange(min=0, min_open=True),
    is_flag=False,
    flag_value=DEFAULT_WATCH_S,
    metavar="[SECONDS]",
    help=f"Show the stats again every SECONDS ({DEFAULT_WATCH_S:g} if not given) until Ctrl-C.",
)
@click.option("--prefix", default="", help="Only keys (and listener patterns) starting with this.")
# For tests and scripts: stop watching after N rounds.
@click.option("--iterations", type=click.IntRange(min=1), hidden=True)
@connection_options
@click.pass_context
def stats(
    ctx: click.Context,
    as_json: bool,
    watch: float | None,
    prefix: str,
    iterations: int | None,
) -> None:
    """Who holds what, and who waits, on every server (exits 69 if one is unreachable).

    With --watch, a terminal is redrawn in place; other output gets one table (or one
    JSON document per line) each round. Ctrl-C ends the watch with status 0.
    """
    rounds = 1 if watch is None else iterations
    tty = sys.stdout.isatty()
    with _client(ctx) as client:
        try:
            done = 0
            while True:
                result = only_prefix(client.stats(tolerate_unreachable=True), prefix)
                _show_stats(result, as_json=as_json, watch=watch, tty=tty)
                done += 1
                if rounds is not None and done >= rounds:
                    break
                time.sleep(watch or 0)
        except KeyboardInterrupt:
            click.echo("")
            sys.exit(0)  # the way a watch ends
    if result.unreachable:
        sys.exit(exit_codes.UNAVAILABLE)


def _show_stats(result: Stats, *, as_json: bool, watch: float | None, tty: bool) -> None:
    if as_json:
        # Watching prints one document per line, so the output can be streamed.
        indent = None if watch is not None else 2
        click.echo(json.dumps(stats_document(result), indent=indent))
    else:
        if watch is not None:
            click.echo(watch_heading(watch, tty=tty))
        table = render_stats(result)
        if table:
            click.echo(table)
    for server, reason in sorted(result.unreachable.items()):
        click.secho(f"dflock: {server} unreachable: {reason}", fg="red", err=True)
    sys.stdout.flush()


@main.command()
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=60),
    help="Seconds every server has to answer (default: DFLOCK_HEALTH_TIMEOUT_S, 1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@connection_options
@click.pass_context
def health(ctx: click.Context, timeout: float | None, as_json: bool) -> None:
    """Exit 0 when every server answers a ping within --timeout, else 69: a readiness
    probe for containers (`exec: [dflock, health]`)."""
    from dflock_integrations.health import check_health

    result = check_health(_settings(ctx), timeout_s=timeout)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        for server in result.servers:
            if server.ready:
                assert server.latency_s is not None
                click.echo(f"ready      {server.server}  {server.latency_s * 1000:.1f} ms")
            else:
                click.echo(f"not ready  {server.server}  {server.error}")
    if not result.ready:
        sys.exit(exit_codes.UNAVAILABLE)


@main.command()
@click.argument("pattern")
@click.option("--group", help="Queue group: each signal goes to one member of the group.")
@click.option("--count", type=click.IntRange(min=1), help="Exit after this many signals.")
@connection_options
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
    except KeyboardInterrupt:
        sys.exit(exit_codes.SIGNALLED + 2)  # as a shell reports Ctrl-C


@main.command()
@click.argument("channel")
@click.argument("payload")
@connection_options
@click.pass_context
def emit(ctx: click.Context, channel: str, payload: str) -> None:
    """Send PAYLOAD on CHANNEL and print how many listeners got it (over NATS, which
    does not tell, nothing is printed and stderr says so)."""
    with _client(ctx) as client:
        delivered = client.emit(channel, payload)
    if delivered is None:
        click.secho("sent; the broker does not tell how many listeners got it", err=True, dim=True)
    else:
        click.echo(delivered)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.option("--limit", type=click.IntRange(min=1), help="Hold one of LIMIT semaphore slots.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Seconds to wait for the grant.")
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=DEFAULT_GRACE_S,
    show_default=True,
    help="Seconds the command has to exit after a signal before it gets SIGKILL.",
)
@click.option(
    "--on-lost",
    type=click.Choice(["terminate", "warn"]),
    default="terminate",
    show_default=True,
    help="If the lease is lost while the command runs: terminate it, or only warn.",
)
@connection_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def run(
    ctx: click.Context,
    key: str,
    limit: int | None,
    timeout: float | None,
    grace: float,
    on_lost: str,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND while holding KEY; exits with the command's own status.

    Example: dflock run nightly-backup --timeout 0 -- ./backup.sh

    SIGTERM, SIGINT and SIGHUP are passed on to the command, and KEY is held until it
    has exited (SIGKILL after --grace seconds). Exits 75 when KEY is not granted in
    time, 69 when no server answers, 127 (126) when COMMAND is not found (not
    executable), 128+N when signal N ended it, and 70 when the lease is lost while it
    runs (it is then terminated, unless --on-lost warn).
    """
    try:
        check_runnable(command)
    except CannotRun as exc:
        _fail(exc, exc.code)
    child = Child(command, grace_s=grace)
    lost_while_running = False
    code = exit_codes.SOFTWARE
    try:
        with (
            _client(ctx) as client,
            client.lease(key, limit=limit, acquire_timeout_s=timeout) as handle,
        ):

            def lease_lost(_handle: object) -> None:
                nonlocal lost_while_running
                lost_while_running = True
                if on_lost == "terminate":
                    click.secho(f"dflock: lost the lease on {key!r}; stopping", fg="red", err=True)
                    child.stop()
                else:
                    click.secho(
                        f"dflock: lost the lease on {key!r}; the command runs on unprotected",
                        fg="red",
                        err=True,
                    )

            handle.on_lost(lease_lost)
            child.start()
            code = child.wait()
    except CannotRun as exc:
        _fail(exc, exc.code)
    except LockLostError as exc:
        if on_lost == "terminate" or not lost_while_running:
            raise  # exits 70
        click.secho(f"dflock: {exc}", fg="red", err=True)
    except KeyboardInterrupt:
        sys.exit(exit_codes.SIGNALLED + 2)  # Ctrl-C while waiting for the grant
    sys.exit(code)
