"""`dflock_multilock` and `dflock_rate_limit` alone (no lifespan, no exception handlers),
and the Starlette middleware's multilock and rate-limit rules.

The settings come from DFLOCK_* variables, as in a deployment; every app runs under a
real uvicorn, against the 1.10 and 2.1 profiles.
"""

import asyncio
import contextlib
import threading
import time
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi_support import RawRequest, dflock_environment, waiters
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dflock_integrations import LockMode
from dflock_integrations.fastapi import HeldLease, dflock_multilock, dflock_rate_limit
from dflock_integrations.starlette import DflockMiddleware, Rule

from helpers import eventually

pytestmark = pytest.mark.dflock_compat("1.10", "2.1")

doc_rw = dflock_multilock("doc:{doc_id}", max_shared=4, acquire_timeout_s=10)
doc_now = dflock_multilock("doc:{doc_id}", max_shared=4, acquire_timeout_s=0)
api_budget = dflock_rate_limit("api:{user}", "5/s")

WORK_DEADLINE_S = 10


@pytest.fixture
def env(monkeypatch, dflock_settings):
    dflock_environment(monkeypatch, dflock_settings)
    return monkeypatch


@contextlib.asynccontextmanager
async def holding(multilock, mode: LockMode):
    """The test's own hold, its release confirmed, so the next request finds it gone."""
    handle = await multilock.acquire(mode, 5)
    try:
        yield handle
    finally:
        await handle.release(wait=True)


class Desk:
    """Who is inside an endpoint now, and who saw whom on the way in."""

    def __init__(self) -> None:
        self.gates: dict[int, threading.Event] = {}
        self.inside: set[tuple[str, int]] = set()
        self.met: dict[tuple[str, int], frozenset[tuple[str, int]]] = {}

    def gate(self, n: int) -> threading.Event:
        return self.gates.setdefault(n, threading.Event())

    async def work(self, method: str, n: int) -> dict:
        me = (method, n)
        self.inside.add(me)
        self.met[me] = frozenset(self.inside)
        # A threading.Event: the test sets it from another thread and loop than uvicorn's.
        await asyncio.to_thread(self.gate(n).wait, WORK_DEADLINE_S)
        self.inside.discard(me)
        return {"n": n}


def doc_app(desk: Desk) -> FastAPI:
    app = FastAPI()

    @app.get("/docs/{doc_id}")
    async def read(doc_id: str, n: int, lease: Annotated[HeldLease, Depends(doc_rw)]) -> dict:
        return await desk.work("GET", n)

    @app.put("/docs/{doc_id}")
    async def write(doc_id: str, n: int, lease: Annotated[HeldLease, Depends(doc_rw)]) -> dict:
        return await desk.work("PUT", n)

    @app.api_route("/docs/{doc_id}/now", methods=["GET", "PUT"])
    async def now(doc_id: str, lease: Annotated[HeldLease, Depends(doc_now)]) -> dict:
        return {"held": lease.held}

    return app


async def test_gets_share_while_a_put_waits_for_them_and_then_excludes(env, serve, http, client):
    desk = Desk()
    base = serve(doc_app(desk))

    def send(method: str, n: int):
        return asyncio.create_task(http.request(method, f"{base}/docs/a", params={"n": n}))

    reads = [send("GET", 0), send("GET", 1)]
    await eventually(lambda: {("GET", 0), ("GET", 1)} <= desk.inside, what="two GETs inside")
    write = send("PUT", 2)
    await eventually(lambda: _waiting(client, "doc:a"), what="the PUT waiting for the GETs")
    late = send("GET", 3)  # after the waiting PUT: goes after it
    await eventually(lambda: _waiting(client, "doc:a|gate"), what="the late GET queued")
    assert ("PUT", 2) not in desk.inside and ("GET", 3) not in desk.inside
    desk.gate(0).set()
    desk.gate(1).set()
    await eventually(lambda: ("PUT", 2) in desk.inside, what="the PUT inside")
    assert desk.met[("PUT", 2)] == {("PUT", 2)}  # alone
    assert ("GET", 3) not in desk.inside
    desk.gate(2).set()
    desk.gate(3).set()
    answers = await asyncio.gather(*reads, write, late)
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert desk.met[("GET", 3)] == {("GET", 3)}  # after the PUT had left


async def _waiting(client, key: str) -> bool:
    return await waiters(client, key) >= 1


async def test_a_mode_not_had_in_time_answers_423_with_retry_after(env, serve, http, client):
    base = serve(doc_app(Desk()))
    doc = client.multilock("doc:b", max_shared=4)
    async with holding(doc, LockMode.SHARED):
        kept_out = await http.put(f"{base}/docs/b/now")
        shared_too = await http.get(f"{base}/docs/b/now")
    assert kept_out.status_code == 423, kept_out.text
    assert kept_out.headers["Retry-After"] == "1"
    assert kept_out.json()["detail"]["error"] == "locked"
    assert shared_too.status_code == 200 and shared_too.json() == {"held": True}
    async with holding(doc, LockMode.EXCLUSIVE):
        read = await http.get(f"{base}/docs/b/now")
    assert read.status_code == 423, read.text
    assert (await http.put(f"{base}/docs/b/now")).status_code == 200
    assert await doc.mode() is None  # every request gave its hold back


# Before v1.15 a blocked acquire does not see its connection close: the waiter stays until
# its wait ends, for a multilock as for a lock. From v1.15 it is withdrawn at once.
@pytest.mark.dflock_compat("2.1")
async def test_a_put_whose_client_leaves_while_queued_gives_up_its_place(env, serve, client):
    desk = Desk()
    base = serve(doc_app(desk))
    doc = client.multilock("doc:c", max_shared=4)
    read = await doc.acquire(LockMode.SHARED, 5)
    leaving = await RawRequest.send(base, "/docs/c?n=1", method="PUT")
    await eventually(lambda: _waiting(client, "doc:c"), what="the PUT waiting for the read")
    await leaving.close()
    await eventually(lambda: _not_waiting(client, "doc:c"), what="the PUT's place given up")
    await read.release(wait=True)
    await eventually(lambda: _free(doc), what="nothing left held")
    assert ("PUT", 1) not in desk.met  # it never ran


async def _not_waiting(client, key: str) -> bool:
    return await waiters(client, key) == 0


async def before_admission() -> float:
    return time.monotonic()


def api_app(admitted: list[tuple[float, float]]) -> FastAPI:
    """Only the dependency: no handlers, no lifespan."""
    app = FastAPI()

    @app.get("/api/{user}")
    async def api(
        user: str,
        # FastAPI solves dependencies in this order: the grant falls between the two times.
        asked: Annotated[float, Depends(before_admission)],
        permit: Annotated[HeldLease, Depends(api_budget)],
    ) -> dict:
        if user == "ann":
            admitted.append((asked, time.monotonic()))
        return {"user": user, "limit": permit.limit}

    return app


def surely_within_one_second(admitted: list[tuple[float, float]], count: int) -> list:
    """`count` admissions whose grants certainly all fell within less than a second.

    Each grant lies between when its request asked and when its endpoint ran; for
    each earliest ask, the `count` earliest ends after it bound the span from above.
    """
    for asked, _ in admitted:
        later = sorted(entered for other_asked, entered in admitted if other_asked >= asked)
        if len(later) >= count and later[count - 1] - asked < 1:
            return later[:count]
    return []


async def test_a_rate_limited_route_answers_429_with_retry_after_over_budget(
    env, serve, http, client
):
    admitted: list[tuple[float, float]] = []
    base = serve(api_app(admitted))
    refusals = []
    stop = time.monotonic() + 2.5  # the scenario: hammering for two and a half seconds

    async def hammer() -> None:
        while time.monotonic() < stop:
            answer = await http.get(f"{base}/api/ann")
            if answer.status_code == 429:
                refusals.append(answer)
            else:
                assert answer.status_code == 200, answer.text

    await asyncio.gather(*(hammer() for _ in range(6)))
    assert refusals, "hammering never went over budget"
    for refusal in refusals[:20]:
        assert int(refusal.headers["Retry-After"]) >= 1
        assert refusal.json()["detail"]["error"] == "rate_limited"
    assert len(admitted) >= 10
    # No window of one second admitted a sixth (the server counts from each grant).
    assert surely_within_one_second(admitted, 6) == [], admitted
    other = await http.get(f"{base}/api/bob")  # another key: a budget of its own
    assert other.status_code == 200 and other.json() == {"user": "bob", "limit": 5}


def test_the_dependencies_are_named_by_what_they_hold():
    assert repr(doc_rw) == "dflock_multilock('doc:{doc_id}', max_shared=4, mode=None)"
    shared = dflock_multilock("idx", max_shared=2, mode=LockMode.SHARED)
    assert repr(shared) == "dflock_multilock('idx', max_shared=2, mode='shared')"
    assert repr(api_budget) == "dflock_rate_limit('api:{user}', '5/1s')"
    assert api_budget.hold.label == "api:{user}"  # the metrics' name: the template


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: dflock_multilock("k", max_shared=0), "dflock_multilock: max_shared"),
        (lambda: dflock_multilock("k", max_shared=2, mode="write"), "lock mode 'write'"),
        (lambda: dflock_rate_limit("k", "5 per second"), "dflock_rate_limit: rate"),
        (lambda: dflock_rate_limit("k", "5/s", lease_ttl_s=3), "lease_ttl_s does not apply"),
        (lambda: dflock_rate_limit("k", "5/s", limit=3), "unknown option 'limit'"),
    ],
)
def test_bad_options_fail_when_the_dependency_is_built(build, words):
    with pytest.raises((TypeError, ValueError), match=words):
        build()


# -- the Starlette middleware's rules -----------------------------------------------------


def rules_app(settings) -> Starlette:
    async def page(request: Request) -> JSONResponse:
        lease = request.state.dflock_lease
        return JSONResponse({"held": lease.held, "limit": lease.limit})

    return Starlette(
        routes=[Route("/pages/{name}", page, methods=["GET", "POST"]), Route("/quota", page)],
        middleware=[
            Middleware(
                DflockMiddleware,
                settings=settings,
                rules=[
                    Rule("/pages/{name}", key="page:{name}", max_shared=3, acquire_timeout_s=0),
                    {"path": "/quota", "key": "quota", "rate": "2/m"},
                ],
            )
        ],
    )


async def test_middleware_rules_share_exclude_and_rate_limit(serve, http, client, dflock_settings):
    base = serve(rules_app(dflock_settings))
    page = client.multilock("page:a", max_shared=3)
    async with holding(page, LockMode.SHARED):
        shared = await http.get(f"{base}/pages/a")
        kept_out = await http.post(f"{base}/pages/a")
    assert shared.status_code == 200 and shared.json() == {"held": True, "limit": 3}
    assert kept_out.status_code == 423 and kept_out.headers["Retry-After"] == "1"
    assert kept_out.json()["error"] == "locked"
    assert (await http.post(f"{base}/pages/a")).status_code == 200
    # The middleware holds through the response body and releases once it is sent.
    await eventually(lambda: _free(page), what="the POST's hold released")
    admitted = [await http.get(f"{base}/quota") for _ in range(2)]
    assert [a.status_code for a in admitted] == [200, 200]
    refused = await http.get(f"{base}/quota")
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"] == "rate_limited"


async def _free(multilock) -> bool:
    return await multilock.mode() is None


def test_a_rule_of_two_kinds_fails_when_the_middleware_is_built():
    with pytest.raises(ValueError, match=r"rule '/quota': limit= and rate= cannot be combined"):
        DflockMiddleware(
            rules_app, rules=[{"path": "/quota", "key": "q", "rate": "5/s", "limit": 2}]
        )
