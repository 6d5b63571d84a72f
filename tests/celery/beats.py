"""Real `celery beat` processes and a reader of the messages they send.

No worker runs the tasks: `Sent` reads every message beat publishes to a queue of the
test's own, on the session's broker (the folder broker, or Redis with CI=true), and
notes when it arrived and which beat process sent it (the `origin` header).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kombu import Connection

HERE = Path(__file__).resolve().parent
SCHEDULER = "dflock_integrations.celery.beat:DflockScheduler"
DATABASE_SCHEDULER = "dflock_integrations.celery.beat:DflockDatabaseScheduler"
STOP_TIMEOUT_S = 10.0


class Sent:
    """Messages on `queue` as they arrive: (monotonic time, sender pid, task name)."""

    def __init__(self, conf: dict, queue: str) -> None:
        self.records: list[tuple[float, int, str]] = []
        self._conf = conf
        self._queue = queue
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, name="beat-messages", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the message reader did not start")

    def _read(self) -> None:
        conf = self._conf
        with Connection(
            conf["broker_url"],
            transport=conf.get("broker_transport"),
            transport_options=conf.get("broker_transport_options", {}),
        ) as connection:
            queue = connection.SimpleQueue(self._queue, no_ack=True)
            self._ready.set()
            while not self._stop.is_set():
                try:
                    message = queue.get(timeout=0.05)
                except queue.Empty:
                    continue
                origin = message.headers.get("origin", "gen0@")
                pid = int(origin.split("@")[0].removeprefix("gen"))
                self.records.append((time.monotonic(), pid, message.headers.get("task", "")))

    def by(self, pid: int) -> list[float]:
        return [at for at, sender, _ in self.records if sender == pid]

    def first_after(self, moment: float, pid: int) -> float | None:
        return next((at for at in self.by(pid) if at > moment), None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(STOP_TIMEOUT_S)


class Beat:
    """`celery -A beat_app beat -S SCHEDULER` with a schedule file and a log of its own."""

    def __init__(
        self, name: str, folder: Path, env: dict[str, str], scheduler: str = SCHEDULER
    ) -> None:
        self.name = name
        self.log = folder / f"{name}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "beat_app", "beat",
            "-S", scheduler, "-s", str(folder / f"{name}-schedule"),
            "--pidfile=", "-l", "info",
        ]  # fmt: skip
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=HERE, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.frozen = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(STOP_TIMEOUT_S)

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.frozen = False

    def signal(self, signum: int) -> float:
        """Send `signum`; the seconds until the process had exited."""
        started = time.monotonic()
        self.process.send_signal(signum)
        self.process.wait(STOP_TIMEOUT_S)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process.poll() is None:
            if self.frozen:
                self.thaw()
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def beat_env(conf: dict, *, servers: str, key_prefix: str, lease_s: int, **extra: str) -> dict:
    """The environment of a beat process: its broker and queue, its dflock settings."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DFLOCK_")},
        "DFLOCK_CELERY_TEST_CONF": json.dumps(conf),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        "DFLOCK_SERVERS": servers,
        "DFLOCK_KEY_PREFIX": key_prefix,
        "DFLOCK_CONNECT_TIMEOUT_S": "2",
        "BEAT_LEASE_S": str(lease_s),
        **extra,
    }
