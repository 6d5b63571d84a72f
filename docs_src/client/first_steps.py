"""The two clients: the async one for asyncio code, the sync one for blocking code."""

# --8<-- [start:example]
from dflock_integrations import AsyncDflockClient, SyncDflockClient


async def show_order() -> None:
    async with (
        AsyncDflockClient() as dflock,  # settings from DFLOCK_* and .env
        dflock.lock("order:42") as lock,
    ):
        print(lock.token, lock.fence, lock.lease)


def render_pdf() -> None:
    with (
        SyncDflockClient(acquire_timeout_s=5) as dflock,  # arguments win over DFLOCK_*
        dflock.semaphore("pdf-render", limit=4),
    ):
        render()


# --8<-- [end:example]

rendered: list[str] = []


def render() -> None:
    rendered.append("pdf")  # stands in for the real work


if __name__ == "__main__":
    import asyncio
    import os
    from concurrent.futures import ThreadPoolExecutor

    asyncio.run(show_order())
    render_pdf()
    assert rendered == ["pdf"], rendered

    async def check_async() -> None:
        async with AsyncDflockClient() as dflock:
            assert str(dflock.settings.servers[0]) == os.environ["DFLOCK_SERVERS"]
            lock = dflock.lock("order:42")
            assert lock.key == os.environ["DFLOCK_KEY_PREFIX"] + "order:42"  # with the prefix
            assert lock.name == "order:42" and not lock.held  # nothing on the wire yet
            async with lock:
                assert lock.held and lock.token and lock.lease > 0
                assert isinstance(lock.fence, int)
                assert lock.server == os.environ["DFLOCK_SERVERS"]
            assert not lock.held and lock.token is None  # released

    asyncio.run(check_async())

    # One sync client, shared by threads: at most 4 slots at a time, each with its fence.
    with SyncDflockClient(acquire_timeout_s=5) as dflock:
        assert dflock.settings.acquire_timeout_s == 5

        def one_render(_: int) -> int | None:
            with dflock.semaphore("pdf-render", limit=4) as slot:
                holders = dflock.stats().find(slot.key)
                assert holders is not None and holders["holders"] <= 4, holders
                return slot.fence

        with ThreadPoolExecutor(8) as pool:
            fences = list(pool.map(one_render, range(16)))
        assert len(set(fences)) == 16, fences
    print("ok")
