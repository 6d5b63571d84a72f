"""Lock metrics in a Prometheus registry and through OpenTelemetry, with bounded labels."""

from __future__ import annotations

import pytest

prometheus_client = pytest.importorskip("prometheus_client")

from dflock_integrations import AsyncDflockClient, LockLostError  # noqa: E402
from dflock_integrations.metrics import (  # noqa: E402
    MAX_NAMES,
    Names,
    OpenTelemetryMetrics,
    PrometheusMetrics,
)
from dflock_integrations.testing.pytest_plugin import settings_for  # noqa: E402

from helpers import eventually  # noqa: E402

pytestmark = pytest.mark.dflock_compat("1.10", "2.1")


def sample(registry, metric, **labels):
    value = registry.get_sample_value(metric, labels)
    return 0 if value is None else value


async def test_a_cycle_a_timeout_and_a_loss_show_up(dflock_server_process):
    server = dflock_server_process()
    registry = prometheus_client.CollectorRegistry()
    metrics = PrometheusMetrics(registry=registry)
    async with AsyncDflockClient(settings_for(server, lease_ttl_s=30), metrics=metrics) as client:
        for order in (41, 42, 43):
            async with client.lock(f"order:{order}", label="order:{id}"):
                pass
        async with client.lock("order:7", label="order:{id}"):
            assert not await client.lock("order:7", label="order:{id}").acquire(0)
        held = client.lock("report:9")  # no template given: labelled by its first part
        await held.acquire()
        server.kill()  # SIGKILL: the lease is lost, the server unreachable
        await eventually(lambda: held.lost, what="the lease lost")
        with pytest.raises(LockLostError):
            await held.release()
    address = server.address
    lock = {"kind": "lock", "server": address}
    assert sample(registry, "dflock_lock_wait_seconds_count", name="order:{id}",
                  outcome="granted", **lock) == 4  # fmt: skip
    assert sample(registry, "dflock_lock_timeouts_total", name="order:{id}", **lock) == 1
    assert sample(registry, "dflock_lock_hold_seconds_count", name="order:{id}",
                  outcome="released", **lock) == 4  # fmt: skip
    assert sample(registry, "dflock_leases_lost_total", name="report:*", **lock) == 1
    assert sample(registry, "dflock_leases_held", kind="lock") == 0
    names = {
        s.labels["name"]
        for metric in registry.collect()
        for s in metric.samples
        if "name" in s.labels
    }
    assert names == {"order:{id}", "report:*"}  # never a raw key


async def test_an_unreachable_server_counts_as_a_server_error(dflock_server_process):
    server = dflock_server_process()
    registry = prometheus_client.CollectorRegistry()
    settings = settings_for(server, connect_timeout_s=1)
    async with AsyncDflockClient(settings, metrics=PrometheusMetrics(registry=registry)) as c:
        async with c.lock("k"):
            pass
        server.kill()
        with pytest.raises(ConnectionError):
            await c.lock("k").acquire(0)
    assert sample(registry, "dflock_server_errors_total", server=server.address,
                  reason="unavailable") >= 1  # fmt: skip
    assert sample(registry, "dflock_pool_connections", server=server.address) == 0


def test_names_stay_bounded():
    names = Names()
    assert names.of("order:42") == "order:*"
    assert names.of("order:43") == "order:*"
    assert names.of("x", template="order:{id}") == "order:{id}"
    for index in range(MAX_NAMES * 2):
        names.of(f"k{index}")  # keys without a separator: each its own name, up to a point
    assert names.of("k-fresh") == "other"


async def test_opentelemetry_metrics_and_spans(dflock_settings):
    otel_sdk = pytest.importorskip("opentelemetry.sdk.metrics")
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    reader = InMemoryMetricReader()
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = OpenTelemetryMetrics(
        meter_provider=otel_sdk.MeterProvider(metric_readers=[reader]),
        tracer_provider=tracer_provider,
    )
    async with (
        AsyncDflockClient(dflock_settings, metrics=metrics) as client,
        client.lock("job:1", label="job:{id}"),
    ):
        pass
    names = {
        metric.name
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {"dflock.lock.wait.duration", "dflock.lock.hold.duration"} <= names
    recorded = [(span.name, span.attributes["dflock.name"]) for span in spans.get_finished_spans()]
    assert recorded == [("dflock.wait", "job:{id}"), ("dflock.hold", "job:{id}")]


def test_the_setting_picks_the_backend(dflock_settings):
    from dflock_integrations import SyncDflockClient

    with SyncDflockClient(dflock_settings, metrics="prometheus") as client:
        assert isinstance(client._metrics, PrometheusMetrics)
        assert client._metrics is PrometheusMetrics.default()  # registered once
    with SyncDflockClient(dflock_settings) as client:
        assert not client._metrics.enabled


def test_a_sync_rate_limiter_reports_under_its_label(dflock_settings):
    # The sync limiter runs an async one on the client's loop thread: that one reports,
    # so it needs both the label and the client's own metrics object.
    from dflock_integrations import SyncDflockClient

    registry = prometheus_client.CollectorRegistry()
    with SyncDflockClient(dflock_settings, metrics=PrometheusMetrics(registry=registry)) as c:
        limiter = c.rate_limiter("api:ann", "1/s", label="api:{user}")
        assert limiter.try_acquire()
        assert not limiter.try_acquire()
    names = {s.labels.get("name") for metric in registry.collect() for s in metric.samples}
    assert "api:{user}" in names
    assert not any(name and "ann" in name for name in names)
