"""Fixtures: a live uvicorn per test (`serve`) and a roomy HTTP client (`http`)."""

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
import pytest_asyncio
from fastapi_support import run_uvicorn


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """`serve(app)` -> base URL of a live uvicorn; stopped when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(run_uvicorn(app))


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with room for many concurrent requests."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(limits=limits, timeout=20) as c:
        yield c
