"""Waiting helpers: poll for an event with a deadline, never sleep and hope."""

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

import pytest


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout_s: float = 5.0,
    what: str = "condition",
) -> None:
    """Poll `check` until it is true; fail with `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


def eventually_sync(check: Callable[[], bool], *, timeout_s: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


class Wire:
    """A raw protocol connection: three lines out, one line back."""

    def __init__(self, address: str, *, timeout: float = 5.0, sock: socket.socket | None = None):
        host, port = address.rsplit(":", 1)
        self.sock = sock or socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rb")

    def send(self, cmd: str, key: str = "_", arg: str = "") -> None:
        self.sock.sendall(f"{cmd}\n{key}\n{arg}\n".encode())

    def line(self) -> str:
        raw = self.file.readline()
        if not raw:
            raise ConnectionError("closed")
        return raw.decode().rstrip("\n")

    def ask(self, cmd: str, key: str = "_", arg: str = "") -> str:
        self.send(cmd, key, arg)
        return self.line()

    def closed_by_server(self) -> bool:
        try:
            return self.file.readline() == b""
        except OSError:
            return True

    def close(self) -> None:
        self.file.close()
        self.sock.close()
