"""Multilock modes and rate-limit admissions through the HTTP layer's one hold path.

Separate clients stand for separate processes, on the 1.10 and 2.1 profiles.
"""

import asyncio
import threading

import pytest

from dflock_integrations import AsyncDflockClient, LockMode, RateLimited, SyncDflockClient
from dflock_integrations._http import hold
from dflock_integrations._http.answers import answer_for
from dflock_integrations._http.hold import Hold
from dflock_integrations._http.limiters import multilock_hold, rate_limit_hold
from dflock_integrations.metrics import Metrics

from helpers import eventually

pytestmark = pytest.mark.dflock_compat("1.10", "2.1")

DOC = multilock_hold(max_shared=4, acquire_timeout_s=10, label="doc:{id}")


@pytest.fixture
async def other(dflock_settings):
    """A second process, as far as the server can tell."""
    async with AsyncDflockClient(dflock_settings) as c:
        yield c


async def waiters(client, key: str) -> int:
    entry = (await client.stats()).find(client.settings.key_prefix + key)
    return 0 if entry is None else entry["waiters"]


async def test_reads_share_and_a_write_waits_for_them_then_excludes(client, other):
    never_leaves = asyncio.Event().wait
    first = await DOC.for_method("GET").take(client, "doc:1", never_leaves)
    second = await DOC.for_method("HEAD").take(other, "doc:1", never_leaves)
    assert first.held and second.held  # two reads at once, in two processes
    writing = asyncio.ensure_future(DOC.for_method("PUT").take(client, "doc:1", never_leaves))
    await eventually(lambda: _queued(other, "doc:1"), what="the write queued behind the reads")
    # A read arriving after the waiting write goes after it (the gate is FIFO).
    reading = asyncio.ensure_future(DOC.for_method("GET").take(other, "doc:1", never_leaves))
    await eventually(lambda: _queued(other, "doc:1|gate"), what="the late read queued")
    await hold.release(first, "GET", "/docs/1")
    assert not writing.done()  # one read is still in
    await hold.release(second, "HEAD", "/docs/1")
    write = await asyncio.wait_for(writing, 5)
    assert write.held and not reading.done()
    await hold.release(write, "PUT", "/docs/1")
    late = await asyncio.wait_for(reading, 5)
    assert late.held
    await hold.release(late, "GET", "/docs/1")


async def _queued(client, key: str) -> bool:
    return await waiters(client, key) >= 1


async def test_a_mode_not_had_in_time_is_a_423_not_a_429(client, other):
    now = multilock_hold(max_shared=4, acquire_timeout_s=0)
    write = await now.for_method("DELETE").take(client, "doc:2")
    with pytest.raises(Exception) as refused:
        await now.for_method("GET").take(other, "doc:2", asyncio.Event().wait)
    answer = answer_for(refused.value)
    assert answer is not None and answer.status == 423, refused.value
    assert answer.body["error"] == "locked"
    await hold.release(write, "DELETE", "/docs/2")
    shared = multilock_hold(max_shared=4, mode=LockMode.SHARED, acquire_timeout_s=0)
    read = await shared.for_method("DELETE").take(other, "doc:2")  # fixed mode: shared
    assert read.held and read.mode is LockMode.SHARED
    await hold.release(read, "DELETE", "/docs/2")


def test_sync_reads_share_and_a_sync_write_is_kept_out(dflock_settings):
    with SyncDflockClient(dflock_settings) as one, SyncDflockClient(dflock_settings) as two:
        first = DOC.for_method("GET").take_sync(one, "doc:3")
        second = DOC.for_method("GET").take_sync(two, "doc:3")
        quick = multilock_hold(max_shared=4, acquire_timeout_s=0.2)
        with pytest.raises(Exception) as refused:
            quick.for_method("POST").take_sync(two, "doc:3")
        assert answer_for(refused.value).status == 423
        hold.release_sync(first, "GET", "/docs/3")
        hold.release_sync(second, "GET", "/docs/3")
        write = quick.for_method("POST").take_sync(one, "doc:3")
        assert write.held
        hold.release_sync(write, "POST", "/docs/3")


async def test_over_budget_is_rate_limited_at_once_with_a_retry_after(client, other):
    api = rate_limit_hold(rate="3/m", label="api:{user}")
    admitted = [await api.take(client, "api:7", asyncio.Event().wait) for _ in range(2)]
    admitted.append(await api.take(other, "api:7"))  # another process shares the budget
    assert all(a.held for a in admitted)
    for admission in admitted:
        await hold.release(admission, "GET", "/api/7")  # nothing to give back
    with pytest.raises(RateLimited) as refused:
        await api.take(client, "api:7", asyncio.Event().wait)
    answer = answer_for(refused.value)
    assert answer.status == 429 and answer.body["error"] == "rate_limited"
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    # A released admission did not free its slot: the period does.
    with pytest.raises(RateLimited):
        await api.take(other, "api:7")
    assert await api.take(client, "api:8")  # another key, another budget


async def test_an_entry_point_keeps_one_limiter_per_key(client):
    api = rate_limit_hold(rate="5/s")
    first = api.lease(client, "api:1")
    assert api.lease(client, "api:1")._limiter is first._limiter
    assert api.lease(client, "api:2")._limiter is not first._limiter


async def test_a_rate_limit_told_to_wait_waits_its_turn(client):
    patient = rate_limit_hold(rate="2/s", acquire_timeout_s=5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(4):
        await patient.take(client, "jobs", asyncio.Event().wait)
    assert loop.time() - started >= 0.9  # the last two waited for the first two to end


def test_sync_rate_limit_from_many_threads_admits_the_budget(dflock_settings):
    api = rate_limit_hold(rate="4/m")
    admitted = []
    refused = []
    with SyncDflockClient(dflock_settings) as c:

        def one() -> None:
            try:
                admitted.append(api.take_sync(c, "api:sync"))
            except RateLimited as exc:
                refused.append(exc)

        threads = [threading.Thread(target=one) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert (len(admitted), len(refused)) == (4, 6)
    assert all(exc.retry_after_s > 0 for exc in refused)


class Recorded(Metrics):
    """The names waits are reported under."""

    enabled = True

    def __init__(self) -> None:
        self.names: set[tuple[str, str]] = set()

    def waited(self, kind: str, name: str, server: str, seconds: float, outcome: str) -> None:
        self.names.add((kind, name))


async def test_every_kind_is_reported_under_its_template_never_the_key(dflock_settings):
    metrics = Recorded()
    async with AsyncDflockClient(dflock_settings, metrics=metrics) as c:
        holds = [
            (Hold.checked(label="order:{id}"), "order:41"),
            (Hold.checked(limit=2, label="pdf:{kind}"), "pdf:a4"),
            (multilock_hold(max_shared=2, label="doc:{id}").for_method("GET"), "doc:9"),
            (rate_limit_hold(rate="5/s", label="api:{user}"), "api:ann"),
        ]
        for what, key in holds:
            await hold.release(await what.take(c, key), "GET", "/")
    assert metrics.names == {
        ("lock", "order:{id}"),
        ("semaphore", "pdf:{kind}"),
        ("multilock", "doc:{id}"),
        ("rate_limit", "api:{user}"),
    }
