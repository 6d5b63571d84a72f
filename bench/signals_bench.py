"""Signals over brokers: fan-out to 100 listeners in one process, and what an emit costs.

    python -m bench.signals_bench

Needs NATS on 127.0.0.1:4222 and Redis on 127.0.0.1:6379 (`scripts/ensure_services.sh`).

- Fan-out: one client, 100 listeners of one pattern, each drained by a task of its
  own; deliveries per second from the first emit to the last delivery. The peer is
  nats-py itself with 100 subscriptions and a callback that only counts.
- Emit: p50 of one `await client.emit(...)` against the bare library's own publish
  on the same broker (`nc.publish`, `redis.publish`), in interleaved rounds.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from dflock_integrations import AsyncDflockClient, DflockSettings

NATS_URL = "nats://127.0.0.1:4222"
REDIS_URL = "redis://127.0.0.1:6379/15"
LISTENERS = 100
FAN_OUT_SIGNALS = 2_000  # 200,000 deliveries
FAN_OUT_BATCH = 50  # emits between two yields to the loop
EMIT_ROUNDS = 5
EMITS_PER_ROUND = 4_000
PAYLOAD = '{"task_id":"6f1c2d","outcome":"succeeded","runtime_s":0.25}'
GOALS = {"fan_out_per_s": 50_000, "emit_p50_ratio": 1.2}


def _prefix() -> str:
    return f"bench{uuid.uuid4().hex[:8]}."


async def fan_out_ours() -> dict[str, float]:
    settings = DflockSettings(signals_url=NATS_URL, key_prefix=_prefix())
    async with AsyncDflockClient(settings) as client:
        subs = [
            await client.listen("fan.*", max_queue=FAN_OUT_SIGNALS).start()
            for _ in range(LISTENERS)
        ]
        expected = LISTENERS * FAN_OUT_SIGNALS
        received = 0
        done = asyncio.Event()

        async def drain(sub: Any) -> None:
            nonlocal received
            for _ in range(FAN_OUT_SIGNALS):
                await sub.get()
                received += 1
            if received == expected:
                done.set()

        drains = [asyncio.ensure_future(drain(sub)) for sub in subs]
        started = time.perf_counter()
        for index in range(FAN_OUT_SIGNALS):
            await client.emit("fan.out", PAYLOAD)
            if index % FAN_OUT_BATCH == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(done.wait(), 120)
        elapsed = time.perf_counter() - started
        await asyncio.gather(*drains)
        dropped = sum(sub.dropped for sub in subs)
        for sub in subs:
            await sub.aclose()
    return {"per_s": expected / elapsed, "dropped": dropped}


async def fan_out_nats_py() -> dict[str, float]:
    import nats

    nc = await nats.connect(NATS_URL)
    subject = _prefix() + "fan.out"
    expected = LISTENERS * FAN_OUT_SIGNALS
    received = 0
    done = asyncio.Event()

    async def count(msg: Any) -> None:
        nonlocal received
        received += 1
        if received == expected:
            done.set()

    subs = [await nc.subscribe(subject, cb=count) for _ in range(LISTENERS)]
    await nc.flush()
    payload = PAYLOAD.encode()
    started = time.perf_counter()
    for index in range(FAN_OUT_SIGNALS):
        await nc.publish(subject, payload)
        if index % FAN_OUT_BATCH == 0:
            await asyncio.sleep(0)
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - started
    for sub in subs:
        await sub.unsubscribe()
    await nc.close()
    return {"per_s": expected / elapsed, "dropped": 0}


async def _per_call(call: Callable[[], Awaitable[Any]], n: int, *, every: int = 0) -> list[float]:
    """Seconds of each of `n` calls; with `every`, the loop runs once per that many calls
    (a publisher that never yields would only fill nats-py's buffer)."""
    samples = []
    clock = time.perf_counter
    for index in range(n):
        start = clock()
        await call()
        samples.append(clock() - start)
        if every and index % every == 0:
            await asyncio.sleep(0)
    return samples


async def emit_latency() -> dict[str, dict[str, list[float]]]:
    import nats
    from redis.asyncio import Redis

    results: dict[str, dict[str, list[float]]] = {"nats": {}, "redis": {}}
    nc = await nats.connect(NATS_URL)
    redis = Redis.from_url(REDIS_URL)
    prefix = _prefix()
    nats_client = AsyncDflockClient(DflockSettings(signals_url=NATS_URL, key_prefix=prefix))
    redis_client = AsyncDflockClient(DflockSettings(signals_url=REDIS_URL, key_prefix=prefix))
    payload = PAYLOAD.encode()
    subject = prefix + "lat.emit"
    calls: dict[str, dict[str, tuple[Callable[[], Awaitable[Any]], int]]] = {
        "nats": {
            "nats-py publish": (lambda: nc.publish(subject, payload), 100),
            "dflock emit": (lambda: nats_client.emit("lat.emit", PAYLOAD), 100),
        },
        "redis": {
            "redis-py publish": (lambda: redis.publish(subject, payload), 0),
            "dflock emit": (lambda: redis_client.emit("lat.emit", PAYLOAD), 0),
        },
    }
    try:
        for broker, named in calls.items():
            for name, (call, every) in named.items():
                await _per_call(call, 200, every=every)  # warm up: connections, scripts
                results[broker][name] = []
            for _ in range(EMIT_ROUNDS):
                for name, (call, every) in named.items():
                    n = EMITS_PER_ROUND if broker == "nats" else EMITS_PER_ROUND // 4
                    results[broker][name] += await _per_call(call, n, every=every)
    finally:
        await nats_client.aclose()
        await redis_client.aclose()
        await nc.close()
        await redis.aclose()
    return results


def measure() -> dict[str, Any]:
    return {
        "fan_out": {
            "dflock, 100 listeners": asyncio.run(fan_out_ours()),
            "nats-py, 100 subscriptions": asyncio.run(fan_out_nats_py()),
        },
        "emit": asyncio.run(emit_latency()),
    }


def render(results: dict[str, Any]) -> str:
    lines = [
        "## Signals over NATS and Redis",
        f"Fan-out: one client, {LISTENERS} listeners of one pattern in one process, "
        f"{FAN_OUT_SIGNALS} signals; deliveries per second until the last listener has "
        f"the last signal (goal: at least {GOALS['fan_out_per_s']:,}/s over NATS).",
        "",
        "| | deliveries/s | dropped |",
        "|---|---:|---:|",
    ]
    for name, row in results["fan_out"].items():
        lines.append(f"| {name} | {row['per_s']:,.0f} | {row['dropped']:.0f} |")
    lines += [
        "",
        "Emit: one call, p50 and p99 in µs, against the bare library's own publish on the "
        f"same broker (goal: p50 at most {GOALS['emit_p50_ratio']}x). NATS publishes into "
        "the client's buffer; Redis waits for the server's answer (our emit is one Lua "
        "script that also counts receivers and serves queue groups).",
        "",
        "| broker | call | p50 µs | p99 µs | p50 ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for broker, named in results["emit"].items():
        bare = statistics.median(next(iter(named.values())))
        for name, samples in named.items():
            ordered = sorted(samples)
            p50 = statistics.median(ordered)
            p99 = ordered[int(len(ordered) * 0.99)]
            lines.append(
                f"| {broker} | {name} | {p50 * 1e6:.1f} | {p99 * 1e6:.1f} | {p50 / bare:.2f}x |"
            )
    return "\n".join(lines)


def report() -> str:
    return render(measure())


if __name__ == "__main__":
    print(report())
    sys.exit(0)
