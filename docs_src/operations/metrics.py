"""Lock metrics in a Prometheus registry of one's own."""

import asyncio

import prometheus_client

from dflock_integrations import AsyncDflockClient
from dflock_integrations.metrics import PrometheusMetrics


async def main() -> None:
    # --8<-- [start:metrics]
    registry = prometheus_client.CollectorRegistry()  # or DFLOCK_METRICS=prometheus
    dflock = AsyncDflockClient(metrics=PrometheusMetrics(registry=registry))
    async with dflock, dflock.lock("order:42", label="order:{id}"):  # label: its template
        ...
    # --8<-- [end:metrics]
    waits = registry.get_sample_value(
        "dflock_lock_wait_seconds_count",
        {"kind": "lock", "name": "order:{id}", "outcome": "granted",
         "server": str(dflock.settings.servers[0])},
    )  # fmt: skip
    assert waits == 1, waits


if __name__ == "__main__":
    asyncio.run(main())
    print("ok")
