"""The example projects' stack for these tests: a Celery worker and the web app.

Both run as subprocesses from example_projects/, started and stopped by
`example_projects/stack.py` (shared with the demo), against the session's embedded
dflock server with a key prefix of their own. The broker is kombu's filesystem
transport in a temporary folder, or Redis on 127.0.0.1:6379 (db REDIS_DB, a queue of
this session's own) when CI=true.
"""

import uuid

import pytest
from examples_support import stack, using_redis

from dflock_integrations.client import SyncDflockClient
from dflock_integrations.testing.pytest_plugin import settings_for

REDIS_URL = "redis://127.0.0.1:6379/12"
RENDER_S = 1.0  # each report's simulated rendering, in seconds
WORKER_PROCESSES = 3


@pytest.fixture(scope="session")
def example_prefix() -> str:
    return f"ex{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="session")
def example_env(dflock_server, example_prefix, tmp_path_factory) -> dict[str, str]:
    """The environment every project of the story runs with in these tests."""
    folder = tmp_path_factory.mktemp("examples")
    broker = (
        stack.redis_broker_env(REDIS_URL)
        if using_redis()
        else stack.filesystem_broker_env(folder / "broker")
    )
    return stack.project_env(
        {
            **stack.dflock_env(
                dflock_server.address,
                key_prefix=example_prefix,
                read_timeout_s=dflock_server.config.read_timeout_s,
            ),
            **broker,
            "REPORTS_RENDER_S": str(RENDER_S),
            "REPORTS_SITE_DB": str(folder / "site.sqlite3"),
        }
    )


@pytest.fixture(scope="session")
def example_stack(example_env, tmp_path_factory):
    """The worker and the web app, answering; stopped, process groups and all, at the end."""
    logs = tmp_path_factory.mktemp("example-logs")
    with stack.running_stack(example_env, logs, concurrency=WORKER_PROCESSES) as running:
        yield running
    for child in running.children:
        assert not stack.group_members(child.pgid), f"{child.name} left processes behind"


@pytest.fixture
def example_client(dflock_server, example_prefix):
    """A client in the projects' namespace: holds their keys, hears their signals."""
    with SyncDflockClient(settings_for(dflock_server, key_prefix=example_prefix)) as client:
        yield client
