"""A real Celery worker (prefork, concurrency 4) on a real broker, for the whole session.

The broker is kombu's filesystem transport in a temporary folder, with results in
files (nothing to install). With CI=true it is Redis on 127.0.0.1:6379 instead (db
REDIS_DB, a queue of this session's own). The worker runs `celery_app` with DFLOCK_*
pointing at the session's embedded dflock server and a key prefix of its own.
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

from dflock_integrations.client import SyncDflockClient
from dflock_integrations.testing.filesystem_broker import filesystem_broker
from dflock_integrations.testing.pytest_plugin import settings_for

HERE = Path(__file__).resolve().parent
CONF_ENV = "DFLOCK_CELERY_TEST_CONF"
REDIS_URL = "redis://127.0.0.1:6379/13"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def using_redis() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def celery_session_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def celery_conf(tmp_path_factory, celery_session_id) -> dict:
    """Broker, backend and queue for this session, as app.conf keys."""
    queue = f"dflock-test-{celery_session_id}"
    conf = {
        "task_default_queue": queue,
        "result_expires": 600,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        # How long the worker waits for a killed child's result before WorkerLostError.
        "worker_lost_wait": 0.5,
    }
    if using_redis():
        conf.update(broker_url=REDIS_URL, result_backend=REDIS_URL)
    else:
        conf.update(
            filesystem_broker(tmp_path_factory.mktemp("celery-broker"), polling_interval_s=0.02)
        )
    return conf


@pytest.fixture(scope="session")
def worker_prefix(celery_session_id) -> str:
    """The key prefix of every key and signal of the worker's tasks."""
    return f"cw{celery_session_id}."


@pytest.fixture(scope="session")
def celery_app(celery_conf):
    """The `celery_app` module, configured like the worker, for sending tasks."""
    os.environ[CONF_ENV] = json.dumps(celery_conf)
    try:
        import celery_app
    finally:
        del os.environ[CONF_ENV]
    yield celery_app
    celery_app.app.close()


@pytest.fixture(scope="session")
def worker_client(dflock_server, worker_prefix):
    """A client with the worker's key prefix: holds the tasks' keys, hears their signals."""
    with SyncDflockClient(settings_for(dflock_server, key_prefix=worker_prefix)) as client:
        yield client


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log

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


@pytest.fixture(scope="session")
def celery_worker(celery_app, celery_conf, dflock_server, worker_prefix, tmp_path_factory):
    """A running worker, confirmed by a real round trip (the ping task) before any test."""
    worker = start_worker(
        celery_app,
        celery_conf,
        tmp_path_factory.mktemp("celery-worker") / "worker.log",
        {
            "DFLOCK_SERVERS": dflock_server.address,
            "DFLOCK_KEY_PREFIX": worker_prefix,
            "DFLOCK_SERVER_READ_TIMEOUT_S": str(dflock_server.config.read_timeout_s),
        },
    )
    try:
        yield worker
    finally:
        worker.stop()


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
    worker = Worker(process, log)
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


@pytest.fixture
def tag() -> str:
    """A value of this test's own for the tasks' key templates."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def gate(tmp_path) -> Path:
    """A path a task waits for; the test creates it to let the task finish."""
    return tmp_path / "gate"
