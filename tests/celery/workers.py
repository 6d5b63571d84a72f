"""A real `celery worker` process for the tests: started, confirmed, stopped.

Importable by name (`from workers import start_worker`) from any test module: a
conftest cannot be, once several test folders with one are collected together.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery.exceptions import TimeoutError as ResultTimeout

HERE = Path(__file__).resolve().parent
CONF_ENV = "DFLOCK_CELERY_TEST_CONF"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path, queue: str) -> None:
        self.process = process
        self.log = log
        self.queue = queue  # the one it consumes

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Warm shutdown (TERM); KILL the worker's process group if it does not end in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT_S)


def start_worker(celery_app, conf: dict, log: Path, dflock_env: dict[str, str]) -> Worker:
    """`celery worker` (prefork, 4 children) on `conf`'s queue with these DFLOCK_* variables,
    returned once it answered the ping task."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DFLOCK_")},
        CONF_ENV: json.dumps(conf),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        "DFLOCK_CONNECT_TIMEOUT_S": "2",
        **dflock_env,
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "celery_app",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        "4",
        "-Q",
        conf["task_default_queue"],
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "info",
        "-n",
        f"dflocktest-{uuid.uuid4().hex[:6]}@%h",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=HERE,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a KILL reaches the children
        )
    worker = Worker(process, log, conf["task_default_queue"])
    try:
        _wait_until_ready(worker, celery_app, conf["task_default_queue"])
    except BaseException:
        worker.stop()
        raise
    return worker


def _wait_until_ready(worker: Worker, celery_app, queue: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    result = celery_app.ping.apply_async(queue=queue)
    while True:
        if worker.process.poll() is not None:
            pytest.fail(f"the celery worker exited at start:\n{worker.log_tail()}")
        try:
            if result.get(timeout=0.5, interval=0.02) == "pong":
                return
        except ResultTimeout:
            pass
        if time.monotonic() > deadline:
            worker.stop()
            pytest.fail(f"the celery worker did not answer a ping:\n{worker.log_tail()}")
