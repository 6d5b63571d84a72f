"""The client on its own: a lock, a semaphore and a signal on an embedded server, step by step.

    .venv/bin/python example_projects/client_tour.py

Nothing else is needed: the server runs in this process on a free 127.0.0.1 port
and stops when the tour ends or is interrupted. (`demo.py` tells the story of the
three example projects.)
"""

from __future__ import annotations

import asyncio
import sys
import time

from dflock_integrations import AsyncDflockClient, DflockSettings, LockTimeout
from dflock_integrations.cli.stats_table import render_stats
from dflock_integrations.server import run_in_thread

_started = time.monotonic()


def step(text: str) -> None:
    print(f"[{time.monotonic() - _started:6.3f}s] {text}", flush=True)


async def story(client: AsyncDflockClient) -> None:
    step("1. Two workers want order:42; dflockd serves them in arrival order.")
    first = client.lock("order:42")
    await first.acquire()
    step(f"   worker A holds order:42 (fence {first.fence}, lease {first.lease}s)")
    try:
        async with client.lock("order:42", acquire_timeout_s=0.3):
            pass
    except LockTimeout as exc:
        step(f"   worker B gives up: {exc}")
    third = client.lock("order:42")
    await third.enqueue()
    step("   worker C joins the queue (two-phase: enqueue now, wait later)")
    await first.release()
    step("   worker A releases")
    await third.wait(5)
    step(f"   worker C, first in the queue, holds order:42 (fence {third.fence})")
    await third.release()

    step("2. Five report jobs share a semaphore of 2 slots.")
    running: list[str] = []

    async def report(name: str) -> None:
        async with client.semaphore("reports", limit=2, acquire_timeout_s=5):
            running.append(name)
            step(f"   {name} running (now {len(running)} of 2 slots in use)")
            await asyncio.sleep(0.05)
            running.remove(name)

    await asyncio.gather(*(report(f"report-{i}") for i in range(1, 6)))

    step("3. A signal: a listener on 'reports.>' hears a job finish.")
    async with client.listen("reports.>") as subscription:
        delivered = await client.emit("reports.done.quarterly", {"rows": 1200})
        signal = await subscription.get(timeout_s=5)
        assert signal is not None
        sent = "emitted" if delivered is None else f"emitted to {delivered} listener(s)"
        step(f"   {sent}; received {signal.channel} {signal.payload}")

    step("4. Stats while one lock is held:")
    async with client.lock("nightly-backup"):
        print(render_stats(await client.stats()), flush=True)
    step("Done: every lock released, the server stops now.")


def main() -> int:
    with run_in_thread() as server:
        step(f"embedded dflockd-compatible server listening on {server.address}")
        settings = DflockSettings(
            servers=[server.address], server_read_timeout_s=server.config.read_timeout_s
        )

        async def run() -> None:
            async with AsyncDflockClient(settings) as client:
                await story(client)

        try:
            asyncio.run(run())
        except KeyboardInterrupt:
            step("interrupted; stopping the server")
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
