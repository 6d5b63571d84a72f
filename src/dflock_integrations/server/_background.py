"""`run_in_thread`: a server on its own loop in a daemon thread, for tests and demos."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from dflock_integrations.server._listener import DflockServer
from dflock_integrations.server._options import ServerConfig

START_TIMEOUT_S = 10.0


class RunningServer:
    """A server started by `run_in_thread`; `stop()` ends it early (e.g. to test failures)."""

    def __init__(
        self, server: DflockServer, loop: asyncio.AbstractEventLoop, thread: threading.Thread
    ) -> None:
        self.server = server
        self.config = server.config
        self.host = server.host
        self.port = server.port
        self.address = server.address
        self._loop = loop
        self._thread = thread

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Close every connection (clients see the server go away) and stop the thread."""
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self.server.close(), self._loop)
        future.result(timeout=self.config.shutdown_timeout_s + 5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __repr__(self) -> str:
        return f"<RunningServer {self.address} running={self.running}>"


@contextlib.contextmanager
def run_in_thread(config: ServerConfig | None = None, **options: Any) -> Iterator[RunningServer]:
    """Start a server (on a free port unless one is given), ready for requests on entry."""
    base = config or ServerConfig(port=0)
    config = dataclasses.replace(base, **options)
    loop = asyncio.new_event_loop()
    server = DflockServer(config)
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:
            failure.append(exc)
            return
        finally:
            ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"dflock-server-{config.port}", daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT_S) or failure:
        raise RuntimeError(f"embedded dflock server did not start: {failure[:1]}")
    running = RunningServer(server, loop, thread)
    _wait_until_answering(running)
    try:
        yield running
    finally:
        running.stop()


def _wait_until_answering(running: RunningServer) -> None:
    """A real round trip, so callers never race the listening socket."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection((running.host, running.port), timeout=1) as sock:
                if running.config.tls_cert:
                    return  # a plain ping cannot cross TLS; the bound socket is enough
                sock.sendall(b"stats\n_\n\n")  # every generation has stats; not all have ping
                if sock.recv(64).startswith((b"ok ", b"error_auth")):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded dflock server on {running.address} does not answer")
        time.sleep(0.005)
