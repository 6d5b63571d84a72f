"""`ServerProcess`: `dflock serve` (or a real dflockd binary) in a child process.

A server in its own process can fail the way production servers fail: frozen
(SIGSTOP), killed (SIGKILL), restarted on the same port. The test suite and the
pytest plugin use it for fault injection; the thread-hosted server cannot do that.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import IO

START_TIMEOUT_S = 15.0
_LISTENING = re.compile(r"listening on (\S+):(\d+)")


class ServerProcess:
    """A running server process; `address` is where clients reach it.

    `command` None runs this package's `dflock serve`; otherwise it is the path of an
    upstream `dflockd` binary, which takes the same flags.
    """

    def __init__(
        self,
        *,
        compat: str = "default",
        flags: Sequence[str] = (),
        command: str | None = None,
        port: int = 0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.compat = compat
        self.flags = list(flags)
        self.command = command
        self.host = "127.0.0.1"
        self.port = port
        self._env = env
        self._child: subprocess.Popen[str] | None = None
        self._frozen = False
        self.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self._child is not None
        return self._child.pid

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.poll() is None

    def start(self) -> None:
        """Start (again, on the same port once one was chosen) and wait until it answers."""
        if self.command is None:
            argv = [sys.executable, "-m", "dflock_integrations", "serve", "--compat", self.compat]
            if self.port == 0:
                argv += ["--port", "0"]
        else:
            argv = [self.command]
            if self.port == 0:
                self.port = _free_port()
        if self.port:
            argv += ["--host", self.host, "--port", str(self.port)]
        # The flags say everything: a developer's DFLOCK(D)_* variables must not leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DFLOCKD_", "DFLOCK_"))}
        env.update(self._env or {})
        self._child = subprocess.Popen(
            [*argv, *self.flags],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._frozen = False
        self._await_listening()

    def _await_listening(self) -> None:
        assert self._child is not None and self._child.stderr is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        if self.port == 0:
            self.port = _read_port(self._child.stderr, deadline)
        _drain_in_background(self._child.stderr)
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                if self._child.poll() is not None:
                    raise RuntimeError(
                        f"server process exited with {self._child.returncode}"
                    ) from None
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"server process on {self.address} does not listen"
                    ) from None
                time.sleep(0.01)

    def freeze(self) -> None:
        """SIGSTOP: the process holds its sockets open and answers nothing."""
        os.kill(self.pid, signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self._frozen = False

    def kill(self) -> None:
        """SIGKILL: the kernel closes every connection at once."""
        if self._child is not None and self._child.poll() is None:
            self._child.kill()
            self._child.wait(timeout=10)

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM: a graceful shutdown; returns the exit status."""
        assert self._child is not None
        if self._frozen:
            self.thaw()
        self._child.terminate()
        return self._child.wait(timeout=timeout_s)

    def signal(self, signum: int) -> None:
        """Send a signal and return at once (terminate() waits for the exit)."""
        os.kill(self.pid, signum)

    def wait(self, timeout_s: float = 30.0) -> int:
        assert self._child is not None
        return self._child.wait(timeout=timeout_s)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a second: cleanup, not a graceful shutdown (that
        is `terminate()`), so a client still connected does not hold it up."""
        if self._child is None:
            return
        if self._frozen:
            self.thaw()
        with contextlib.suppress(subprocess.TimeoutExpired):
            if self._child.poll() is None:
                self._child.terminate()
                self._child.wait(timeout=1)
        self.kill()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        what = self.command or f"dflock serve --compat {self.compat}"
        return f"<ServerProcess {what} on {self.address} running={self.running}>"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_port(stream: IO[str], deadline: float) -> int:
    lines = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        match = _LISTENING.search(line)
        if match:
            return int(match.group(2))
    raise RuntimeError("server process did not report its address: " + "".join(lines)[-500:])


def _drain_in_background(stream: IO[str]) -> None:
    # A full stderr pipe would block the server's logging, and with it the server.
    import threading

    def drain() -> None:
        with contextlib.suppress(ValueError, OSError):
            for _ in stream:
                pass

    threading.Thread(target=drain, name="dflock-server-log", daemon=True).start()
