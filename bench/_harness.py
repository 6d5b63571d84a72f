"""What every benchmark shares: a server in its own process, and summary statistics."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server_process(*flags: str) -> Iterator[str]:
    """`dflock serve` in a child process, so load and server do not share a GIL."""
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "dflock_integrations", "serve", "--port", str(port), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"ping\n_\n\n")
                    if sock.recv(16).startswith(b"ok"):
                        break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError("benchmark server did not start") from None
                time.sleep(0.02)
        yield f"127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=10)


@dataclass(frozen=True)
class Summary:
    name: str
    p50_us: float
    p99_us: float
    per_s: float

    @classmethod
    def of(cls, name: str, seconds: list[float]) -> Summary:
        ordered = sorted(seconds)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return cls(name, statistics.median(ordered) * 1e6, p99 * 1e6, len(ordered) / sum(ordered))


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {sys.platform}"
