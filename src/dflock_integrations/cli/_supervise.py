"""`dflock run`'s command: started, handed the signals meant for it, and waited for.

The lock must outlive the command, or a second `dflock run` could start beside it.
So SIGTERM, SIGINT and SIGHUP (what systemd, Kubernetes, `timeout` and a closing
terminal send) are passed on to the command instead of ending dflock, and dflock
releases only once the command has exited. A command still running `grace_s` after
the first such signal is killed with SIGKILL.

A terminal's Ctrl-C reaches the command by itself (it is in dflock's process group,
the terminal's foreground one), so SIGINT is passed on only when dflock is not that
foreground group: a second SIGINT would interrupt the command's own clean-up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from dflock_integrations.cli import exit_codes

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
DEFAULT_GRACE_S = 10.0


class CannotRun(Exception):
    """The command is missing or not executable; `code` is the shell's 127 or 126."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def check_runnable(command: Sequence[str]) -> None:
    """Raise CannotRun now, before a lock is taken for a command that cannot start."""
    program = command[0]
    if os.sep in program:
        if not os.path.isfile(program):
            raise CannotRun(f"{program}: no such file", exit_codes.NOT_FOUND)
        if not os.access(program, os.X_OK):
            raise CannotRun(f"{program}: permission denied", exit_codes.CANNOT_EXECUTE)
    elif shutil.which(program) is None:
        raise CannotRun(f"{program}: command not found", exit_codes.NOT_FOUND)


class Child:
    """The running command: `start()`, then `wait()` for its shell-style exit status."""

    def __init__(self, command: Sequence[str], *, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.command = list(command)
        self.grace_s = grace_s
        self._process: subprocess.Popen[bytes] | None = None
        self._kill_timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._previous: dict[int, Any] = {}
        self._early: list[int] = []  # signals that came before the command existed

    def start(self) -> None:
        # Handlers first: a SIGTERM arriving while the command starts is passed on too.
        for signum in FORWARDED:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        try:
            self._process = subprocess.Popen(self.command)
        except OSError as exc:
            self._restore()
            code = (
                exit_codes.NOT_FOUND
                if isinstance(exc, FileNotFoundError)
                else exit_codes.CANNOT_EXECUTE
            )
            raise CannotRun(f"{self.command[0]}: {exc.strerror or exc}", code) from None
        for early in self._early:
            self._send(early)

    def wait(self) -> int:
        """Wait for the command; its exit status, or 128+N if signal N ended it."""
        assert self._process is not None, "start() first"
        try:
            returncode = self._process.wait()
        finally:
            self._restore()
            with self._lock:
                if self._kill_timer is not None:
                    self._kill_timer.cancel()
        return exit_codes.SIGNALLED - returncode if returncode < 0 else returncode

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Send `signum`, and SIGKILL if the command still runs after the grace period.

        Safe from any thread (a lost lease is reported on the client's).
        """
        self._send(signum)
        self._arm_kill()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and _terminal_sent_it():
            self._arm_kill()  # the command has this one already, from the terminal
        else:
            self.stop(signum)

    def _arm_kill(self) -> None:
        with self._lock:
            if self._kill_timer is None:
                self._kill_timer = threading.Timer(self.grace_s, self._send, (signal.SIGKILL,))
                self._kill_timer.daemon = True
                self._kill_timer.start()

    def _send(self, signum: int) -> None:
        process = self._process
        if process is None:
            self._early.append(signum)
            return
        # Popen.send_signal does nothing once the command has been waited for, so a
        # recycled process id is never hit.
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def _terminal_sent_it() -> bool:
    """Whether dflock (and so the command) is the foreground group of its terminal."""
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        try:
            return os.tcgetpgrp(stream.fileno()) == os.getpgrp()
        except (OSError, ValueError, AttributeError):
            continue  # not a terminal, or closed
    return False
