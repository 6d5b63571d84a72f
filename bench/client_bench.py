"""Lock cycles (acquire + release, uncontended) through this package's clients and peers.

Contenders, measured in one run against the same server process, in interleaved
rounds so that drift in machine load hits them alike:

- `AsyncDflockClient` / `SyncDflockClient`: `with client.lock(k)`, release pipelined
  (the default), and with `release(wait=True)`;
- dflockd-client's `AsyncDistributedLock` / `SyncDistributedLock` (where it installs);
- redis-py's asyncio and blocking `Lock` against Redis on 127.0.0.1:6379 (if it runs);
- 50 tasks in one process, each cycling its own key: this client against redis-py.

When a real dflockd is at hand (`dflockd` on PATH, or named by DFLOCK_BENCH_DFLOCKD),
our clients are measured against it too, beside upstream's Go bench client
(`dflockd-bench` on PATH or DFLOCK_BENCH_GO: upstream's cmd/bench, built from source).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
import timeit
from collections.abc import Awaitable, Callable
from typing import Any

from bench._harness import Summary
from dflock_integrations import AsyncDflockClient, SyncDflockClient
from dflock_integrations.server import ServerProcess

CYCLES = 2000
ROUNDS = 5
TASKS = 50
TASK_SECONDS = 2.0
RATE = "20000/s"
REDIS_ASYNC = "redis-py asyncio Lock (Redis)"
REDIS_SYNC = "redis-py Lock (Redis)"
OURS_ASYNC = "AsyncDflockClient.lock"
OURS_SYNC = "SyncDflockClient.lock"

try:  # the official client needs Python 3.12
    import dflockd_client
except ImportError:  # pragma: no cover - older Pythons
    dflockd_client = None


def _redis(asyncio_flavour: bool) -> Any:
    try:
        import redis
        import redis.asyncio as aioredis
    except ImportError:
        return None
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except Exception:
        return None
    return aioredis.Redis(host="127.0.0.1", port=6379) if asyncio_flavour else redis.Redis()


async def _timed(cycle: Callable[[], Awaitable[None]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await cycle()
        samples.append(time.perf_counter() - started)
    return samples


async def run_async(address: str, *, peers: bool = True) -> dict[str, list[float]]:
    client = AsyncDflockClient(servers=address)

    async def ours() -> None:
        async with client.lock("bench-async"):
            pass

    async def ours_waiting() -> None:
        lock = client.lock("bench-async-wait")
        await lock.acquire()
        await lock.release(wait=True)

    measured = AsyncDflockClient(servers=address, metrics=_private_prometheus())

    async def ours_measured() -> None:
        async with measured.lock("bench-async-metrics", label="bench"):
            pass

    contenders: dict[str, Callable[[], Awaitable[None]]] = {
        OURS_ASYNC: ours,
        f"{OURS_ASYNC}, release(wait=True)": ours_waiting,
    }
    if measured._metrics.enabled:
        contenders[f"{OURS_ASYNC}, DFLOCK_METRICS=prometheus"] = ours_measured
    if peers and dflockd_client is not None:
        host, port = address.rsplit(":", 1)

        async def official() -> None:
            lock = dflockd_client.AsyncDistributedLock(
                "bench-official", servers=[(host, int(port))], lease_ttl_s=30
            )
            async with lock:
                pass

        contenders["dflockd-client AsyncDistributedLock"] = official
    redis_client = _redis(True) if peers else None
    if redis_client is not None:
        redis_lock = redis_client.lock("dflock-bench-redis", timeout=30)

        async def redis_cycle() -> None:
            await redis_lock.acquire()
            await redis_lock.release()

        contenders[REDIS_ASYNC] = redis_cycle
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for cycle in contenders.values():
        await _timed(cycle, 200)  # warm up connections and code paths
    for _ in range(ROUNDS):
        for name, cycle in contenders.items():
            samples[name] += await _timed(cycle, CYCLES // ROUNDS)
    await client.aclose()
    await measured.aclose()
    if redis_client is not None:
        await redis_client.aclose()
    return samples


def _private_prometheus() -> Any:
    """Metrics on a registry of its own (none when prometheus_client is absent)."""
    try:
        import prometheus_client

        from dflock_integrations.metrics import PrometheusMetrics
    except ImportError:
        return "off"
    return PrometheusMetrics(registry=prometheus_client.CollectorRegistry())


def run_sync(address: str, *, peers: bool = True) -> dict[str, list[float]]:
    client = SyncDflockClient(servers=address)

    def ours() -> None:
        with client.lock("bench-sync"):
            pass

    def ours_waiting() -> None:
        lock = client.lock("bench-sync-wait")
        lock.acquire()
        lock.release(wait=True)

    contenders: dict[str, Callable[[], None]] = {
        OURS_SYNC: ours,
        f"{OURS_SYNC}, release(wait=True)": ours_waiting,
    }
    if peers and dflockd_client is not None:
        host, port = address.rsplit(":", 1)

        def official() -> None:
            with dflockd_client.SyncDistributedLock(
                "bench-sync-official", servers=[(host, int(port))], lease_ttl_s=30
            ):
                pass

        contenders["dflockd-client SyncDistributedLock"] = official
    redis_client = _redis(False) if peers else None
    if redis_client is not None:
        redis_lock = redis_client.lock("dflock-bench-redis-sync", timeout=30)

        def redis_cycle() -> None:
            redis_lock.acquire()
            redis_lock.release()

        contenders[REDIS_SYNC] = redis_cycle
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for cycle in contenders.values():
        for _ in range(200):
            cycle()
    for _ in range(ROUNDS):
        for name, cycle in contenders.items():
            for _ in range(CYCLES // ROUNDS):
                started = time.perf_counter()
                cycle()
                samples[name].append(time.perf_counter() - started)
    client.close()
    return samples


async def run_multilock(address: str) -> dict[str, list[float]]:
    """Shared and exclusive holds (max_shared=32) and a rate limiter's `try_acquire`,
    beside a plain lock cycle."""
    client = AsyncDflockClient(servers=address)
    index = client.multilock("bench-multilock", max_shared=32)
    # A budget this loop cannot spend in a period (it runs about 3,000 cycles/s at best),
    # so every try_acquire is an admission: a refusal would be cheaper than the real path.
    limiter = client.rate_limiter("bench-rate", RATE)

    async def plain() -> None:
        async with client.lock("bench-multilock-plain"):
            pass

    async def shared() -> None:
        async with index.shared():
            pass

    async def exclusive() -> None:
        async with index.exclusive():
            pass

    async def admitted() -> None:
        if not await limiter.try_acquire():
            raise RuntimeError(f"the bench's rate {RATE} was spent; raise RATE")

    contenders = {
        "lock": plain,
        "multilock, shared": shared,
        "multilock, exclusive": exclusive,
        "rate limiter, try_acquire": admitted,
    }
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for cycle in contenders.values():
        await _timed(cycle, 100)
    for _ in range(ROUNDS):
        for name, cycle in contenders.items():
            samples[name] += await _timed(cycle, CYCLES // ROUNDS // 2)
    await client.aclose()
    return samples


async def run_tasks(address: str, *, peers: bool = True) -> dict[str, float]:
    """Cycles per second with TASKS tasks in one process, each on its own key."""
    results = {}
    client = AsyncDflockClient(servers=address)

    async def ours(index: int) -> None:
        async with client.lock(f"bench-task-{index}"):
            pass

    results[f"{OURS_ASYNC}, {TASKS} tasks"] = await _throughput(ours)
    await client.aclose()
    redis_client = _redis(True) if peers else None
    if redis_client is not None:
        locks = [redis_client.lock(f"dflock-bench-task-{i}", timeout=30) for i in range(TASKS)]

        async def redis_cycle(index: int) -> None:
            await locks[index].acquire()
            await locks[index].release()

        results[f"{REDIS_ASYNC}, {TASKS} tasks"] = await _throughput(redis_cycle)
        await redis_client.aclose()
    return results


async def _throughput(cycle: Callable[[int], Awaitable[None]]) -> float:
    done = 0
    stop = time.monotonic() + TASK_SECONDS

    async def worker(index: int) -> None:
        nonlocal done
        await cycle(index)  # warm: the connection opened before the clock matters
        while time.monotonic() < stop:
            await cycle(index)
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(TASKS)))
    return done / (time.monotonic() - started)


def go_client(address: str) -> Summary | None:
    """Upstream's Go bench client, one worker, where it was built."""
    binary = os.environ.get("DFLOCK_BENCH_GO") or shutil.which("dflockd-bench")
    if not binary:
        return None
    output = subprocess.run(
        [binary, "--servers", address, "--workers", "1", "--rounds", str(CYCLES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    figures = dict(re.findall(r"(p50|p99|throughput)\s*:\s*([\d.]+)", output))
    return Summary(
        "upstream Go client (cmd/bench, 1 worker)",
        float(figures["p50"]) * 1000,
        float(figures["p99"]) * 1000,
        float(figures["throughput"]),
    )


def upstream_binary() -> str | None:
    return os.environ.get("DFLOCK_BENCH_DFLOCKD") or shutil.which("dflockd")


def measure() -> dict[str, Any]:
    """Every figure of this page, against the embedded server and, if present, dflockd."""
    results: dict[str, Any] = {}
    with ServerProcess(compat="2.1") as server:
        results["asyncio"] = asyncio.run(run_async(server.address))
        results["blocking"] = run_sync(server.address)
        results["tasks"] = asyncio.run(run_tasks(server.address))
        results["multilock"] = asyncio.run(run_multilock(server.address))
    binary = upstream_binary()
    if binary:
        with ServerProcess(command=binary) as server:
            results["upstream"] = {
                "asyncio": asyncio.run(run_async(server.address)),
                "blocking": run_sync(server.address),
                "tasks": asyncio.run(run_tasks(server.address)),
                "multilock": asyncio.run(run_multilock(server.address)),
                "go": go_client(server.address),
            }
    return results


def _table(samples: dict[str, list[float]], ours: str, goal: tuple[str, float] | None) -> list[str]:
    summaries = [Summary.of(name, values) for name, values in samples.items()]
    by_name = {s.name: s for s in summaries}
    lines = [
        "| contender | p50 µs | p99 µs | cycles/s | p50 vs ours |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in summaries:
        ratio = s.p50_us / by_name[ours].p50_us
        lines.append(
            f"| {s.name} | {s.p50_us:.0f} | {s.p99_us:.0f} | {s.per_s:,.0f} | {ratio:.2f}x |"
        )
    if goal is not None and goal[0] in by_name:
        peer, limit = goal
        ratio = by_name[ours].p50_us / by_name[peer].p50_us
        lines += ["", f"- ours / {peer}: **{ratio:.2f}x** p50 (goal <= {limit}x)"]
    measured = by_name.get(f"{ours}, DFLOCK_METRICS=prometheus")
    if measured is not None:
        extra = measured.p50_us / by_name[ours].p50_us - 1
        lines.append(f"- metrics on (prometheus): **{extra:+.0%}** p50 (goal <= +5 %)")
        bookkeeping = metrics_bookkeeping_us()
        share = bookkeeping / by_name[ours].p50_us
        lines.append(
            f"- the same, timed alone: the metrics a lock cycle records take "
            f"**{bookkeeping:.1f} µs**, {share:.1%} of the p50 above (a difference of p50s "
            "this small is within the run's noise; this figure is not)"
        )
    return lines


def metrics_bookkeeping_us(n: int = 100_000) -> float:
    """What one lock cycle's metrics cost by themselves: the wait and the hold recorded."""
    metrics = _private_prometheus()
    if isinstance(metrics, str):
        return 0.0

    def cycle() -> None:
        metrics.waited("lock", "bench", "127.0.0.1:6388", 0.0001, "granted")
        metrics.held("lock", "bench", "127.0.0.1:6388", 0.0001, "released")

    best = min(timeit.repeat(cycle, number=n, repeat=3))
    return best / n * 1e6


def _tasks(results: dict[str, float]) -> list[str]:
    lines = ["| contender | cycles/s |", "|---|---:|"]
    lines += [f"| {name} | {value:,.0f} |" for name, value in results.items()]
    ours = results.get(f"{OURS_ASYNC}, {TASKS} tasks")
    theirs = results.get(f"{REDIS_ASYNC}, {TASKS} tasks")
    if ours and theirs:
        lines += ["", f"- ours / redis-py: **{ours / theirs:.2f}x** cycles/s (goal >= 3x)"]
    return lines


def _multilock(samples: dict[str, list[float]]) -> list[str]:
    p50 = {name: Summary.of(name, values).p50_us for name, values in samples.items()}
    lines = ["| cycle (asyncio) | p50 µs | vs lock |", "|---|---:|---:|"]
    lock = p50["lock"]
    lines += [f"| {name} | {value:.0f} | {value / lock:.2f}x |" for name, value in p50.items()]
    return [
        *lines,
        "",
        f"- shared / lock: **{p50['multilock, shared'] / p50['lock']:.2f}x** (goal <= 1.5x); "
        f"exclusive (max_shared=32) / lock: **{p50['multilock, exclusive'] / p50['lock']:.2f}x** "
        "(goal <= 3x; an exclusive hold takes all 32 slots: 33 grants and 33 releases)",
        f"- rate limiter try_acquire ({RATE}, an admission each time) / lock: "
        f"**{p50['rate limiter, try_acquire'] / p50['lock']:.2f}x** (goal <= 1.2x; one round "
        "trip, never released: its period frees the slot)",
    ]


def render(results: dict[str, Any]) -> str:
    lines = [
        "## Lock cycle: this package's clients vs peers",
        "",
        f"{CYCLES} uncontended acquire+release cycles per contender, in {ROUNDS} interleaved "
        "rounds, against one `dflock serve --compat 2.1` process on loopback; redis-py runs "
        "against Redis on the same machine. `release()` returns once the release is sent "
        "(see [the client guide](client.md#releasing)); the `wait=True` rows wait for the "
        "server's answer, as a release in redis-py does.",
        "",
        "![p50 of one uncontended lock cycle, asyncio](img/lock-cycle.svg)",
        "",
        "### asyncio",
        "",
        *_table(results["asyncio"], OURS_ASYNC, (REDIS_ASYNC, 0.7)),
        "",
        "### blocking",
        "",
        *_table(results["blocking"], OURS_SYNC, (REDIS_SYNC, 0.8)),
        "",
        f"### {TASKS} tasks in one process",
        "",
        f"Each task cycles its own key for {TASK_SECONDS:g} s.",
        "",
        *_tasks(results["tasks"]),
        "",
        "### Shared and exclusive holds, rate limits",
        "",
        *_multilock(results["multilock"]),
    ]
    upstream = results.get("upstream")
    if upstream is None:
        lines += [
            "",
            "No real dflockd was at hand for this run (put `dflockd` on PATH, or name it in "
            "DFLOCK_BENCH_DFLOCKD, to measure against it too).",
        ]
        return "\n".join(lines)
    lines += [
        "",
        "### Against a real dflockd",
        "",
        "The same contenders against upstream's Go server, with upstream's own Go bench "
        "client beside them.",
        "",
        *_table(upstream["asyncio"], OURS_ASYNC, (REDIS_ASYNC, 0.7)),
        "",
        *_table(upstream["blocking"], OURS_SYNC, (REDIS_SYNC, 0.8)),
        "",
        *_tasks(upstream["tasks"]),
        "",
        *_multilock(upstream["multilock"]),
    ]
    go = upstream.get("go")
    if go is not None:
        lines += [
            "",
            f"- {go.name}: p50 {go.p50_us:.0f} µs, p99 {go.p99_us:.0f} µs, "
            f"{go.per_s:,.0f} cycles/s",
        ]
    return "\n".join(lines)


def report() -> str:
    return render(measure())


if __name__ == "__main__":
    print(report())
