import pytest
import pytest_asyncio

from dflock_integrations.client import AsyncDflockClient

import brokers


@pytest_asyncio.fixture
async def client(dflock_settings):
    """An async client on the session server, with a key prefix of this test's own."""
    async with AsyncDflockClient(dflock_settings) as c:
        yield c


@pytest.fixture(params=brokers.KINDS)
def broker_url(request) -> str:
    """This machine's NATS, then its Redis (skipped where absent, failed under CI=true)."""
    return brokers.shared_url(request.param)


@pytest.fixture
def broker_settings(dflock_settings, broker_url):
    """`dflock_settings` with signals on `broker_url`, under a key prefix of this run's own."""
    return dflock_settings.replace(
        signals_url=broker_url, key_prefix=f"r{brokers.RUN}.{dflock_settings.key_prefix}"
    )


@pytest.fixture
def broker_process(tmp_path):
    """`start(kind, password=None)`: a broker of the test's own on a free port, killed after."""
    started: list[brokers.BrokerProcess] = []

    def start(kind: str, *, password: str | None = None) -> brokers.BrokerProcess:
        broker = brokers.BrokerProcess(kind, tmp_path, password=password)
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()
