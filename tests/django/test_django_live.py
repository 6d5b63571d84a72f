"""Concurrent requests through real servers: uvicorn (ASGI) and a threading WSGI server.

Each guarded view waits a short window for a second request to join it; a broken
lock would let one in, and the view's occupancy would count two.
"""

import asyncio
import uuid

import httpx
import pytest
from dflock_testsite.views import occupancy

from dflock_integrations.django import lock

CONCURRENT = 10


async def hammer(base_url, path, n=CONCURRENT):
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        return await asyncio.gather(*(http.get(path) for _ in range(n)))


def fresh():
    return uuid.uuid4().hex[:12]


@pytest.fixture(params=["asgi", "wsgi"])
def web(request):
    return request.getfixturevalue(f"{request.param}_server")


async def test_overlap_is_visible_without_a_lock(web):
    """The detector works: unguarded requests do overlap."""
    name = fresh()
    responses = await hammer(web.url, f"/unguarded/{name}/")
    assert [r.status_code for r in responses] == [200] * CONCURRENT
    assert occupancy[name].peak >= 2


async def test_locked_sync_view_never_overlaps(web):
    name = fresh()
    responses = await hammer(web.url, f"/guarded/{name}/")
    assert [r.status_code for r in responses] == [200] * CONCURRENT
    assert occupancy[name].entered == CONCURRENT
    assert occupancy[name].peak == 1


async def test_locked_async_view_never_overlaps(web):
    name = fresh()
    responses = await hammer(web.url, f"/aguarded/{name}/")
    assert [r.status_code for r in responses] == [200] * CONCURRENT
    assert occupancy[name].entered == CONCURRENT
    assert occupancy[name].peak == 1


@pytest.mark.parametrize("view", ["pooled", "apooled"])
async def test_semaphore_admits_exactly_its_limit(asgi_server, view):
    name = fresh()
    responses = await hammer(asgi_server.url, f"/{view}/{name}/", n=9)
    assert [r.status_code for r in responses] == [200] * 9
    assert occupancy[name].entered == 9
    assert occupancy[name].peak == 3  # three met inside; a fourth never got in


async def test_timeout_answers_423_with_retry_after(asgi_server):
    async with httpx.AsyncClient(base_url=asgi_server.url) as http:
        with lock("invoice:21"):
            response = await http.get("/invoice/21/")
            aresponse = await http.get("/ainvoice/21/")
        for answer in (response, aresponse):
            assert answer.status_code == 423
            assert answer.headers["Retry-After"].isdigit()
            assert answer.json()["error"] == "locked"
        assert (await http.get("/ainvoice/21/")).status_code == 200


async def test_middleware_serialises_posts_under_asgi(asgi_server):
    async with httpx.AsyncClient(base_url=asgi_server.url, timeout=30) as http:
        with lock("order:31"):
            refused = await asyncio.gather(*(http.post("/mw/orders/31/") for _ in range(3)))
        assert {r.status_code for r in refused} == {423}
        granted = await http.post("/mw/orders/31/")
        assert granted.json() == {"order": "31", "held": True}
