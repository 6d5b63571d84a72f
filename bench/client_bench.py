"""Lock cycles (acquire + release, uncontended) through the pooled client and its peers.

Peers, all in the same run against the same server process:
- raw: dflockd-client's low-level `acquire`/`release` on one connection kept open;
- dflockd-client `DistributedLock`: a new connection for every lock, as that library does;
- redis-py's asyncio `Lock` against Redis on 127.0.0.1:6379 (skipped if Redis is absent).
Rounds interleave the contenders so drift in machine load hits them alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import dflockd_client
from dflockd_client import _async as wire

from bench._harness import Summary, server_process
from dflock_integrations import AsyncDflockClient, SyncDflockClient

CYCLES = 2000
ROUNDS = 5


async def _timed(cycle: Callable[[], Awaitable[None]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await cycle()
        samples.append(time.perf_counter() - started)
    return samples


async def _async_contenders(address: str) -> dict[str, Callable[[], Awaitable[None]]]:
    host, port = address.rsplit(":", 1)
    raw_conn = await wire.open_conn(host, int(port), ssl_context=None, connect_timeout_s=5)
    client = AsyncDflockClient(servers=address)

    async def raw() -> None:
        token, _ = await wire.acquire(raw_conn, "bench-raw", 10, 30)
        await wire.release(raw_conn, "bench-raw", token)

    async def pooled() -> None:
        async with client.lock("bench-pooled"):
            pass

    async def upstream() -> None:
        lock = dflockd_client.AsyncDistributedLock(
            "bench-upstream", servers=[(host, int(port))], lease_ttl_s=30
        )
        async with lock:
            pass

    contenders = {
        "raw low-level calls, one open connection": raw,
        "AsyncDflockClient.lock (pooled)": pooled,
        "dflockd-client AsyncDistributedLock": upstream,
    }
    redis_cycle = await _redis_contender()
    if redis_cycle is not None:
        contenders["redis-py asyncio Lock (Redis 127.0.0.1:6379)"] = redis_cycle
    return contenders


async def _redis_contender() -> Callable[[], Awaitable[None]] | None:
    try:
        import redis.asyncio as aioredis
    except ImportError:
        return None
    redis_client = aioredis.Redis(host="127.0.0.1", port=6379)
    try:
        await redis_client.ping()
    except Exception:
        return None
    lock = redis_client.lock("dflock-bench-redis", timeout=30)

    async def redis_cycle() -> None:
        await lock.acquire()
        await lock.release()

    return redis_cycle


async def run_async(address: str) -> dict[str, list[float]]:
    contenders = await _async_contenders(address)
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for cycle in contenders.values():
        await _timed(cycle, 100)  # warm up connections and code paths
    for _ in range(ROUNDS):
        for name, cycle in contenders.items():
            samples[name] += await _timed(cycle, CYCLES // ROUNDS)
    return samples


def run_sync(address: str) -> dict[str, list[float]]:
    host, port = address.rsplit(":", 1)
    client = SyncDflockClient(servers=address)
    raw_conn = dflockd_client._sync.open_conn(
        host, int(port), ssl_context=None, connect_timeout_s=5
    )

    def raw() -> None:
        token, _ = dflockd_client._sync.acquire(raw_conn, "bench-sync-raw", 10, 30)
        dflockd_client._sync.release(raw_conn, "bench-sync-raw", token)

    def pooled() -> None:
        with client.lock("bench-sync-pooled"):
            pass

    def upstream() -> None:
        with dflockd_client.SyncDistributedLock(
            "bench-sync-upstream", servers=[(host, int(port))], lease_ttl_s=30
        ):
            pass

    contenders = {
        "raw low-level calls, one open connection (sync)": raw,
        "SyncDflockClient.lock (pooled)": pooled,
        "dflockd-client SyncDistributedLock": upstream,
    }
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(ROUNDS):
        for name, cycle in contenders.items():
            for _ in range(CYCLES // ROUNDS):
                started = time.perf_counter()
                cycle()
                samples[name].append(time.perf_counter() - started)
    client.close()
    return samples


def _table(samples: dict[str, list[float]], baseline: str, pooled: str, peer: str) -> list[str]:
    summaries = [Summary.of(name, values) for name, values in samples.items()]
    by_name = {s.name: s for s in summaries}
    lines = [
        "| contender | p50 µs | p99 µs | cycles/s | p50 vs pooled |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in summaries:
        ratio = s.p50_us / by_name[pooled].p50_us
        lines.append(
            f"| {s.name} | {s.p50_us:.0f} | {s.p99_us:.0f} | {s.per_s:,.0f} | {ratio:.2f}x |"
        )
    ours = by_name[pooled].p50_us
    lines += [
        "",
        f"- pooled / {peer}: **{ours / by_name[peer].p50_us:.2f}x** (goal <= 0.6x)",
        f"- pooled / raw calls on one connection: **{ours / by_name[baseline].p50_us:.2f}x**"
        " (goal <= 1.3x)",
    ]
    return lines


def measure() -> dict[str, dict[str, list[float]]]:
    """Seconds per cycle of every contender, asyncio and blocking, against one server."""
    with server_process() as address:
        return {"asyncio": asyncio.run(run_async(address)), "blocking": run_sync(address)}


def render(samples: dict[str, dict[str, list[float]]]) -> str:
    lines = [
        "## Lock cycle: pooled client vs peers",
        "",
        f"{CYCLES} uncontended acquire+release cycles per contender, in {ROUNDS} interleaved "
        "rounds, against one `dflock serve` process on loopback.",
        "",
        "![p50 of one uncontended lock cycle, asyncio](img/lock-cycle.svg)",
        "",
        "### asyncio",
        "",
        *_table(
            samples["asyncio"],
            "raw low-level calls, one open connection",
            "AsyncDflockClient.lock (pooled)",
            "dflockd-client AsyncDistributedLock",
        ),
        "",
        "### blocking",
        "",
        *_table(
            samples["blocking"],
            "raw low-level calls, one open connection (sync)",
            "SyncDflockClient.lock (pooled)",
            "dflockd-client SyncDistributedLock",
        ),
    ]
    return "\n".join(lines)


def report() -> str:
    return render(measure())


if __name__ == "__main__":
    print(report())
