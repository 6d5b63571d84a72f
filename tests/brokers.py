"""The brokers signal tests meet: this machine's NATS and Redis, or processes of a test's own.

The shared ones are NATS on 127.0.0.1:4222 and Redis on 127.0.0.1:6379
(`scripts/ensure_services.sh` starts them for CI). A run keeps to itself with a key
prefix of its own (every channel starts with it, so every NATS subject and Redis
registration too) and Redis database 14. A test that stops or breaks a broker starts
its own, from the `nats-server` / `redis-server` binaries, on a free port.
Where a broker is missing a test is skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

NATS_PORT = 4222
REDIS_PORT = 6379
REDIS_DB = 14
KINDS = ("nats", "redis")
# This run's own namespace on the shared brokers, beside any other run's.
RUN = uuid.uuid4().hex[:8]
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what}; scripts/ensure_services.sh should have started it")
    pytest.skip(f"{what}; scripts/ensure_services.sh starts it")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def shared_url(kind: str) -> str:
    """The URL of this machine's broker of `kind`; skips (fails on CI) when it is not there."""
    port = NATS_PORT if kind == "nats" else REDIS_PORT
    if not listening(port):
        _missing(f"nothing listens on 127.0.0.1:{port} ({kind})")
    if kind == "nats":
        return f"nats://127.0.0.1:{NATS_PORT}"
    return f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary(kind: str) -> str:
    name = "nats-server" if kind == "nats" else "redis-server"
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        _missing(f"{name} is not installed")
    assert found is not None
    return found


class BrokerProcess:
    """A broker of a test's own: `stop()` it (as a crash or a restart would), `start()` it again."""

    def __init__(self, kind: str, workdir: Path, *, password: str | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        self.password = password
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f"dflock:{self.password}@" if self.kind == "nats" and self.password else ""
        if self.kind == "redis":
            auth = f":{self.password}@" if self.password else ""
            return f"redis://{auth}127.0.0.1:{self.port}/0"
        return f"nats://{auth}127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "nats":
            command = [binary("nats"), "-a", "127.0.0.1", "-p", str(self.port)]
            if self.password:
                command += ["--user", "dflock", "--pass", self.password]
            return command
        command = [binary("redis"), "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self._workdir)]
        if self.password:
            command += ["--requirepass", self.password]
        return command

    def start(self) -> BrokerProcess:
        log = (self._workdir / f"{self.kind}-{self.port}.log").open("ab")
        self._process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not listening(self.port):
            if self._process.poll() is not None:
                pytest.fail(f"{self.kind} broker exited at start; see {self._workdir}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{self.kind} broker did not listen within {START_TIMEOUT_S} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Kill the broker: every connection to it breaks at once."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
