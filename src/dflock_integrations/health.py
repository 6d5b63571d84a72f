"""Readiness: does every configured dflock server answer, within a bounded time?

    health = check_health()            # or: await acheck_health(settings)
    health.ready                       # True only when every server answered in time
    health.to_dict()                   # the JSON the adapters answer with

Every server (each shard, or each member of a cluster) gets a `ping` on a connection
of its own, all at once, and has `DFLOCK_HEALTH_TIMEOUT_S` (1 s by default) to answer,
authentication included. A frozen server (it accepts connections but answers nothing)
is not ready once that time is up, a stopped one at once. The probes never touch the
application's pools and report no metrics, so they add no labels and cannot starve
the application of connections. The FastAPI/Starlette endpoint, the django-health-check
check, the Celery worker's readiness file and `dflock health` all answer from here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from dataclasses import dataclass, field
from typing import Any

from dflock_integrations.client import AsyncDflockClient
from dflock_integrations.errors import ConfigurationError, DflockError
from dflock_integrations.settings import DflockSettings, ServerAddress

# Beyond the probe's own bound: the time to build its client and gather the answers.
_SLACK_S = 0.25


@dataclass(frozen=True)
class ServerHealth:
    """One server's answer: `latency_s` when it answered in time, else `error`."""

    server: str
    latency_s: float | None = None
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"server": self.server, "ready": self.ready}
        if self.latency_s is not None:
            answer["latency_ms"] = round(self.latency_s * 1000, 1)
        if self.error is not None:
            answer["error"] = self.error
        return answer


@dataclass(frozen=True)
class Health:
    """Every server's answer; `error` when no server could be asked (bad settings)."""

    timeout_s: float
    servers: tuple[ServerHealth, ...] = field(default_factory=tuple)
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.error is None and all(server.ready for server in self.servers)

    def summary(self) -> str:
        """One line for a log or a health page."""
        if self.error is not None:
            return f"dflock settings cannot work: {self.error}"
        failed = [server for server in self.servers if not server.ready]
        if not failed:
            return f"all {len(self.servers)} dflock server(s) answered within {self.timeout_s:g} s"
        return "; ".join(f"{server.error}" for server in failed)

    def to_dict(self) -> dict[str, Any]:
        """`{"status": "ready" | "not_ready", "timeout_s": ..., "servers": [...]}`."""
        answer: dict[str, Any] = {
            "status": "ready" if self.ready else "not_ready",
            "timeout_s": self.timeout_s,
            "servers": [server.to_dict() for server in self.servers],
        }
        if self.error is not None:
            answer["error"] = self.error
        return answer


async def acheck_health(
    settings: DflockSettings | None = None, *, timeout_s: float | None = None
) -> Health:
    """Ask every server at once; returns within about `timeout_s` (default: the setting)."""
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
    try:
        settings = DflockSettings() if settings is None else settings
        timeout = settings.health_timeout_s if timeout_s is None else timeout_s
        # Connections of the probe's own, closed after it: the application's pools and
        # metrics are not its business.
        probe = settings.replace(connect_timeout_s=timeout, pool_max_idle=0, metrics="off")
        client = AsyncDflockClient(probe)
    except ConfigurationError as exc:
        return Health(timeout_s or 0.0, error=str(exc))
    async with client:
        answers = await asyncio.gather(*(_ask(client, s, timeout) for s in settings.servers))
    return Health(timeout, tuple(answers))


def check_health(
    settings: DflockSettings | None = None, *, timeout_s: float | None = None
) -> Health:
    """`acheck_health` for blocking code (on an event loop of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(acheck_health(settings, timeout_s=timeout_s))
    # Called from a thread that runs a loop (an async view calling sync code): that
    # loop cannot be blocked on, so the probe runs on a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dflock-health") as pool:
        return pool.submit(asyncio.run, acheck_health(settings, timeout_s=timeout_s)).result()


async def _ask(client: AsyncDflockClient, server: ServerAddress, timeout_s: float) -> ServerHealth:
    started = time.monotonic()
    try:
        # The client bounds each step by timeout_s; this bounds them all together.
        await asyncio.wait_for(client.ping_server(server), timeout_s + _SLACK_S)
    except asyncio.TimeoutError:
        return ServerHealth(str(server), error=f"{server} did not answer within {timeout_s:g} s")
    except DflockError as exc:
        return ServerHealth(str(server), error=str(exc) or type(exc).__name__)
    return ServerHealth(str(server), latency_s=time.monotonic() - started)
