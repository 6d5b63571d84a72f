import pytest_asyncio

from dflock_integrations.client import AsyncDflockClient


@pytest_asyncio.fixture
async def client(dflock_settings):
    """An async client on the session server, with a key prefix of this test's own."""
    async with AsyncDflockClient(dflock_settings) as c:
        yield c
