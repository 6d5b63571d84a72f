"""`manage.py dflock_serve [--host H] [--port P]`: the embedded server, for development.

By default it listens where `DFLOCK["SERVERS"]` points (when that is this machine)
and expects the same auth token and idle timeout, so the project connects to it
unchanged. Production runs the real dflockd.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from typing import Any

from django.core.management.base import CommandError, CommandParser

from dflock_integrations.django import conf
from dflock_integrations.django.checks import is_loopback
from dflock_integrations.django.management._base import DflockCommand
from dflock_integrations.errors import ConfigurationError
from dflock_integrations.server import DflockServer, ServerConfig
from dflock_integrations.settings import DEFAULT_PORT, DflockSettings


class Command(DflockCommand):
    help = "Run the embedded dflock server for development, where DFLOCK['SERVERS'] points."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", help="Address to bind (default: from DFLOCK, else 127.0.0.1)."
        )
        parser.add_argument(
            "--port", type=int, help="Port (default: from DFLOCK, else 6388; 0 picks a free one)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            settings = conf.get_settings()
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        host, port = _default_address(settings)
        try:
            config = ServerConfig(
                host=options["host"] or host,
                port=port if options["port"] is None else options["port"],
                auth_token=settings.token(),
                read_timeout_s=settings.server_read_timeout_s,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if settings.tls:
            self.stderr.write(
                self.style.WARNING(
                    f"{conf.setting_name('TLS')} is on, but this server speaks plain TCP: "
                    "turn TLS off while developing against it."
                )
            )
        try:
            asyncio.run(self._serve(config))
        except OSError as exc:
            raise CommandError(f"cannot listen on {config.host}:{config.port}: {exc}") from None
        except KeyboardInterrupt:
            pass
        self.stdout.write("dflock server stopped")

    async def _serve(self, config: ServerConfig) -> None:
        server = DflockServer(config)
        await server.start()
        stop = asyncio.Event()
        if threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):  # not on Windows
                    loop.add_signal_handler(signum, stop.set)
        auth = "on" if config.token() else "off"
        self.stdout.write(
            self.style.SUCCESS(f"dflock server listening on {server.address}")
            + f" (auth {auth}); Ctrl-C to stop"
        )
        self.stdout.flush()
        try:
            await stop.wait()
        finally:
            await server.close()


def _default_address(settings: DflockSettings) -> tuple[str, int]:
    """The first configured server when it is on this machine, else 127.0.0.1:6388."""
    first = settings.servers[0]
    if is_loopback(first.host):
        return first.host, first.port
    return "127.0.0.1", DEFAULT_PORT
