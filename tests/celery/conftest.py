"""A real Celery worker (prefork, concurrency 4) on a real broker, for the whole session.

The broker is kombu's filesystem transport in a temporary folder, with results in
files (nothing to install). With CI=true it is Redis on 127.0.0.1:6379 instead (db
REDIS_DB, a queue of this session's own). The worker runs `celery_app` with DFLOCK_*
pointing at the session's embedded dflock server and a key prefix of its own.
"""

import json
import os
import uuid
from pathlib import Path

import pytest

from dflock_integrations.client import SyncDflockClient
from dflock_integrations.testing.filesystem_broker import filesystem_broker
from dflock_integrations.testing.pytest_plugin import settings_for

import background
from beats import Sent
from workers import CONF_ENV, start_worker

REDIS_URL = "redis://127.0.0.1:6379/13"


def pytest_collection_finish(session):
    background.start_if_collected(session)  # the beat failover, beside the suite


def pytest_sessionfinish(session):
    background.stop(session)


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


@pytest.fixture(scope="session")
def worker_env(dflock_server, worker_prefix) -> dict[str, str]:
    """The DFLOCK_* variables of every worker: the session's server and key prefix."""
    return {
        "DFLOCK_SERVERS": dflock_server.address,
        "DFLOCK_KEY_PREFIX": worker_prefix,
        "DFLOCK_SERVER_READ_TIMEOUT_S": str(dflock_server.config.read_timeout_s),
    }


@pytest.fixture
def queue():
    """A queue of this test's own (the beat tests: what their beats send to)."""
    return f"beat-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def sent(celery_conf, queue):
    """Every message the test's beats publish on `queue`, as it arrives."""
    reader = Sent({**celery_conf, "task_default_queue": queue}, queue)
    yield reader
    reader.close()


@pytest.fixture(scope="session")
def celery_worker(celery_app, celery_conf, worker_env, tmp_path_factory):
    """A running worker, confirmed by a real round trip (the ping task) before any test."""
    worker = start_worker(
        celery_app,
        celery_conf,
        tmp_path_factory.mktemp("celery-worker") / "worker.log",
        worker_env,
    )
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def own_worker(celery_app, celery_conf, worker_env, tmp_path):
    """A worker of this test's own, on a queue of its own, for tests that kill its children.

    Under load, a child ended by `revoke(terminate=True)` or a hard time limit can leave
    billiard's pool taking messages it never runs (seen on Redis too). That is the pool's
    hazard, not the subject of these tests, so it must not reach the tests that share
    the session's worker. Send with `apply_async(..., queue=own_worker.queue)`.
    """
    conf = {**celery_conf, "task_default_queue": f"{celery_conf['task_default_queue']}-own"}
    worker = start_worker(
        celery_app,
        conf,
        tmp_path / "worker.log",
        worker_env,
    )
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def tag() -> str:
    """A value of this test's own for the tasks' key templates."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def gate(tmp_path) -> Path:
    """A path a task waits for; the test creates it to let the task finish."""
    return tmp_path / "gate"
