"""What an uncontended `Depends(dflock_lock(...))` adds to a FastAPI route, vs the raw lock cycle.

    .venv/bin/python bench/fastapi_bench.py

One run, three processes: `dflock serve`; this one, serving the app with uvicorn on
a thread and timing the raw pooled lock cycle (`AsyncDflockClient` acquire+release
on one key); and a load process (this script with `--load`) sending requests one at
a time over a keep-alive httpx connection, alternating the unlocked and the locked
route (the same endpoint but for the dependency). Short rounds of load and of raw
cycles alternate, so drift in machine load hits all three alike. `./dev bench` puts
the table in docs/benchmarks.md; run alone, it prints it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from fastapi import Depends, FastAPI, Request  # noqa: E402

from bench._harness import Summary, server_process  # noqa: E402
from dflock_integrations import AsyncDflockClient  # noqa: E402
from dflock_integrations.fastapi import HeldLease, dflock_lifespan, dflock_lock  # noqa: E402

ROUTES = ("plain", "locked", "inline", "after")
PAIRS = 200  # requests per route in each round
CYCLES = 200  # raw lock cycles in each round
ROUNDS = 25
WARMUP = 300  # requests per route, and raw cycles, before measuring

# At module level: FastAPI resolves the (string) annotations below in this module's globals.
item_lock = dflock_lock("item:{item}")
# Released after the response is sent: the release round trip is off the response path.
item_lock_after = dflock_lock("after:{item}", hold_for_stream=True)


def build_app(address: str) -> FastAPI:
    app = FastAPI(lifespan=dflock_lifespan(servers=address))

    @app.get("/plain/{item}")
    async def plain(item: str) -> dict[str, str]:
        return {"item": item}

    @app.get("/locked/{item}")
    async def locked(item: str, lease: Annotated[HeldLease, Depends(item_lock)]) -> dict[str, str]:
        return {"item": item}

    @app.get("/inline/{item}")
    async def inline(item: str, request: Request) -> dict[str, str]:
        # The floor for any dependency: the same lock cycle written in the endpoint, its
        # release confirmed by the server as the dependency's is (so the client's next
        # request never finds the key still held).
        lock = request.state.dflock_client.lock(f"inline:{item}")
        await lock.acquire()
        try:
            return {"item": item}
        finally:
            await lock.release(wait=True)

    @app.get("/after/{item}")
    async def after(
        item: str, lease: Annotated[HeldLease, Depends(item_lock_after)]
    ) -> dict[str, str]:
        return {"item": item}

    return app


class Uvicorn:
    """The app on 127.0.0.1, a free port, in a thread of this process."""

    def __init__(self, app: object) -> None:
        import uvicorn

        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="on", access_log=False, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve_load(base_url: str) -> None:
    """The load process: for each number read from stdin, that many request pairs, one at
    a time, alternating the routes; answers one JSON line of seconds per route."""
    import httpx

    with httpx.Client(base_url=base_url) as http:
        for line in sys.stdin:
            samples: dict[str, list[float]] = {route: [] for route in ROUTES}
            for _ in range(int(line)):
                for route in ROUTES:
                    started = time.perf_counter()
                    answer = http.get(f"/{route}/1")
                    samples[route].append(time.perf_counter() - started)
                    answer.raise_for_status()
            print(json.dumps(samples), flush=True)


class LoadProcess:
    def __init__(self, base_url: str) -> None:
        self.child = subprocess.Popen(
            [sys.executable, __file__, "--load", base_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def round(self, pairs: int) -> dict[str, list[float]]:
        assert self.child.stdin is not None and self.child.stdout is not None
        self.child.stdin.write(f"{pairs}\n")
        self.child.stdin.flush()
        line = self.child.stdout.readline()
        if not line:
            raise RuntimeError("the load process died; see its output above")
        samples: dict[str, list[float]] = json.loads(line)
        return samples

    def close(self) -> None:
        assert self.child.stdin is not None
        self.child.stdin.close()
        self.child.wait(10)


async def raw_cycles(client: AsyncDflockClient, cycles: int) -> list[float]:
    samples = []
    for _ in range(cycles):
        started = time.perf_counter()
        async with client.lock("bench-raw"):
            pass
        samples.append(time.perf_counter() - started)
    return samples


async def measure(address: str, base_url: str) -> dict[str, list[float]]:
    """Rounds alternate the HTTP load and the raw cycle, so machine drift hits all alike."""
    samples: dict[str, list[float]] = {route: [] for route in (*ROUTES, "raw")}
    load = LoadProcess(base_url)
    try:
        async with AsyncDflockClient(servers=address) as client:
            await asyncio.to_thread(load.round, WARMUP)
            await raw_cycles(client, WARMUP)
            for _ in range(ROUNDS):
                for route, values in (await asyncio.to_thread(load.round, PAIRS)).items():
                    samples[route] += values
                samples["raw"] += await raw_cycles(client, CYCLES)
    finally:
        load.close()
    return samples


def run() -> dict[str, list[float]]:
    with server_process() as address, Uvicorn(build_app(address)) as base_url:
        return asyncio.run(measure(address, base_url))


def table(samples: dict[str, list[float]]) -> str:
    plain = Summary.of("unlocked route", samples["plain"])
    locked = Summary.of("locked route", samples["locked"])
    after = Summary.of("locked route, released after the response", samples["after"])
    inline = Summary.of("lock cycle written in the endpoint", samples["inline"])
    raw = Summary.of("raw pooled lock cycle", samples["raw"])
    added_p50 = locked.p50_us - plain.p50_us
    added_p99 = locked.p99_us - plain.p99_us
    after_p50 = after.p50_us - plain.p50_us
    after_p99 = after.p99_us - plain.p99_us
    ratio = added_p50 / raw.p50_us
    # The dependency's own machinery: what it adds beyond the same cycle written inline.
    machinery = locked.p50_us - inline.p50_us
    return "\n".join(
        [
            "| measure | p50 µs | p99 µs |",
            "|---|---:|---:|",
            f"| GET /plain/1 (no dependency) | {plain.p50_us:.0f} | {plain.p99_us:.0f} |",
            f"| GET /locked/1 (`Depends(dflock_lock(...))`) | {locked.p50_us:.0f} "
            f"| {locked.p99_us:.0f} |",
            f"| **added by the lock** (locked - plain) | **{added_p50:.0f}** | {added_p99:.0f} |",
            "| GET /inline/1 (the same cycle written in the endpoint, release confirmed) "
            f"| {inline.p50_us:.0f} "
            f"| {inline.p99_us:.0f} |",
            f"| added by the inline cycle (inline - plain) | {inline.p50_us - plain.p50_us:.0f} "
            f"| {inline.p99_us - plain.p99_us:.0f} |",
            f"| GET /after/1 (`dflock_lock(..., hold_for_stream=True)`) | {after.p50_us:.0f} "
            f"| {after.p99_us:.0f} |",
            f"| **added, released after the response** (after - plain) | **{after_p50:.0f}** "
            f"| {after_p99:.0f} |",
            f"| raw pooled lock cycle (`AsyncDflockClient`, one key) | {raw.p50_us:.0f} "
            f"| {raw.p99_us:.0f} |",
            "",
            f"- added p50 / raw cycle p50: **{ratio:.2f}x** by default (release before the "
            f"response), **{after_p50 / raw.p50_us:.2f}x** released after the response",
            f"- route-level machinery beyond the lock's own round trips (locked - inline): "
            f"**{machinery:.0f} µs**, {machinery / raw.p50_us:.0%} of the raw cycle (goal <= 10%)",
            f"- {len(samples['plain'])} requests per route, alternating, and "
            f"{len(samples['raw'])} raw cycles, in {ROUNDS} interleaved rounds.",
        ]
    )


def render(samples: dict[str, list[float]]) -> str:
    return "\n\n".join(
        [
            "## FastAPI: what a lock dependency adds to a route",
            "The latency an uncontended `Depends(dflock_lock(...))` adds to a route, against "
            "the same route without it, and the raw pooled lock cycle measured in the same run. "
            "`dflock serve` runs in its own process, uvicorn (h11, asyncio) serves the app in "
            "the benchmark's process, and the load comes from a child process sending one "
            "request at a time over a keep-alive connection, alternating the routes.",
            "By default the dependency releases before the response goes out, so a client's "
            "next request never finds its own previous lock: the release round trip is part "
            "of the response time. `hold_for_stream=True` releases after the response is sent, "
            "which takes that round trip off the response path.",
            table(samples),
        ]
    )


def report() -> str:
    return render(run())


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--load":
        serve_load(sys.argv[2])
        return 0
    print(report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
