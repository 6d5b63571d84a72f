"""Load on the embedded server, from this process, against `dflock serve` in another.

The load speaks the protocol on raw asyncio streams: a lean client, so the figures
are the server's rather than a client library's.
"""

from __future__ import annotations

import asyncio
import time

from bench._harness import server_process

THROUGHPUT_CONNECTIONS = 50
THROUGHPUT_SECONDS = 3.0
MANY_CONNECTIONS = 1000
WAITERS = 10_000
LISTENERS = 100
SIGNALS = 500


class Line:
    """One connection; `ask` sends a request and reads the next non-push line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, address: str) -> Line:
        host, port = address.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port), limit=1 << 20)
        return cls(reader, writer)

    def send(self, cmd: str, key: str, arg: str) -> None:
        self.writer.write(f"{cmd}\n{key}\n{arg}\n".encode())

    async def line(self) -> str:
        return (await self.reader.readline()).decode().rstrip("\n")

    async def ask(self, cmd: str, key: str, arg: str) -> str:
        self.send(cmd, key, arg)
        return await self.line()

    def close(self) -> None:
        self.writer.close()


async def throughput(address: str) -> tuple[float, int]:
    """Acquire+release cycles per second from 50 connections, each on its own key."""
    lines = [await Line.open(address) for _ in range(THROUGHPUT_CONNECTIONS)]
    errors = 0
    cycles = 0
    deadline = time.perf_counter() + THROUGHPUT_SECONDS

    async def worker(index: int, conn: Line) -> None:
        nonlocal errors, cycles
        key = f"tp-{index}"
        while time.perf_counter() < deadline:
            granted = await conn.ask("l", key, "10 30")
            if not granted.startswith("ok "):
                errors += 1
                continue
            if await conn.ask("r", key, granted.split()[1]) != "ok":
                errors += 1
            cycles += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i, c) for i, c in enumerate(lines)))
    elapsed = time.perf_counter() - started
    for conn in lines:
        conn.close()
    return cycles / elapsed, errors


async def many_connections(address: str) -> tuple[float, int]:
    """1,000 connections at once, each taking and releasing one shared key 5 times."""
    lines = await asyncio.gather(*(Line.open(address) for _ in range(MANY_CONNECTIONS)))
    errors = 0

    async def worker(conn: Line) -> None:
        nonlocal errors
        for _ in range(5):
            granted = await conn.ask("l", "shared", "60 30")
            if not granted.startswith("ok "):
                errors += 1
                continue
            if await conn.ask("r", "shared", granted.split()[1]) != "ok":
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in lines))
    elapsed = time.perf_counter() - started
    for conn in lines:
        conn.close()
    return elapsed, errors


async def waiters(address: str) -> tuple[float, int, bool]:
    """10,000 waiters queued on one key, then served one after another."""
    sem = asyncio.Semaphore(500)  # bound the connect storm to the listen backlog

    async def open_one() -> Line:
        async with sem:
            return await Line.open(address)

    lines = await asyncio.gather(*(open_one() for _ in range(WAITERS)))
    errors = 0
    for conn in lines:  # enqueue in a known order, one answer at a time
        answer = await conn.ask("e", "queue", "60")
        if answer not in ("queued",) and not answer.startswith("acquired "):
            errors += 1
    order: list[int] = []

    async def serve(index: int, conn: Line) -> None:
        nonlocal errors
        granted = await conn.ask("w", "queue", "120")
        if not granted.startswith("ok "):
            errors += 1
            return
        order.append(index)
        if await conn.ask("r", "queue", granted.split()[1]) != "ok":
            errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(serve(i, c) for i, c in enumerate(lines)))
    elapsed = time.perf_counter() - started
    for conn in lines:
        conn.close()
    return elapsed, errors, order == list(range(WAITERS))


async def fan_out(address: str) -> tuple[float, int]:
    """Deliveries per second from one emitter to 100 listeners of one pattern."""
    listeners = [await Line.open(address) for _ in range(LISTENERS)]
    for conn in listeners:
        assert await conn.ask("listen", "fan.>", "") == "ok"
    emitter = await Line.open(address)
    received = 0

    async def drain(conn: Line) -> None:
        nonlocal received
        for _ in range(SIGNALS):
            if (await conn.line()).startswith("sig "):
                received += 1

    drains = [asyncio.create_task(drain(c)) for c in listeners]
    started = time.perf_counter()
    for i in range(SIGNALS):
        answer = await emitter.ask("signal", "fan.out", f'{{"n":{i}}}')
        assert answer == f"ok {LISTENERS}", answer
    await asyncio.wait_for(asyncio.gather(*drains), timeout=60)
    elapsed = time.perf_counter() - started
    for conn in (*listeners, emitter):
        conn.close()
    return received / elapsed, received


def report() -> str:
    with server_process("--max-connections", "15000") as address:
        rate, tp_errors = asyncio.run(throughput(address))
        many_s, many_errors = asyncio.run(many_connections(address))
        wait_s, wait_errors, fifo = asyncio.run(waiters(address))
        fan_rate, delivered = asyncio.run(fan_out(address))
    return "\n".join(
        [
            "## Embedded server under load",
            "",
            "| scenario | result | errors |",
            "|---|---:|---:|",
            f"| {THROUGHPUT_CONNECTIONS} connections, uncontended acquire+release "
            f"({THROUGHPUT_SECONDS:g} s) | **{rate:,.0f} cycles/s** (goal >= 10,000) "
            f"| {tp_errors} |",
            f"| {MANY_CONNECTIONS} concurrent connections x 5 cycles on one key | "
            f"{many_s:.2f} s | {many_errors} |",
            f"| {WAITERS:,} waiters on one key, served in turn | {wait_s:.2f} s "
            f"({WAITERS / wait_s:,.0f} hand-offs/s), FIFO kept: {'yes' if fifo else 'NO'} "
            f"| {wait_errors} |",
            f"| signal fan-out, {SIGNALS} signals to {LISTENERS} listeners | "
            f"{fan_rate:,.0f} deliveries/s ({delivered:,} delivered) | 0 |",
        ]
    )


if __name__ == "__main__":
    print(report())
