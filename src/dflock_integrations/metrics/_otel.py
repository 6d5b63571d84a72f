"""`OpenTelemetryMetrics`: the client's metrics through opentelemetry-api, and spans.

Instrument names follow the OpenTelemetry conventions (dotted, unit `s`); spans
`dflock.wait` and `dflock.hold` are recorded with their real start and end times, so
nothing is open on the hot path when no SDK is configured.
"""

from __future__ import annotations

import time
from typing import Any

try:
    from opentelemetry import metrics, trace
except ImportError:  # pragma: no cover - depends on the user's environment
    raise ImportError(
        "DFLOCK_METRICS=otel needs opentelemetry-api: pip install dflock-integrations[otel]"
    ) from None

from dflock_integrations.metrics import Metrics

SCOPE = "dflock_integrations"


class OpenTelemetryMetrics(Metrics):
    enabled = True

    def __init__(self, meter_provider: Any = None, tracer_provider: Any = None) -> None:
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self._tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        self.wait = meter.create_histogram(
            "dflock.lock.wait.duration", unit="s", description="Time waited for a grant."
        )
        self.hold = meter.create_histogram(
            "dflock.lock.hold.duration", unit="s", description="Time a lease was held."
        )
        self.timeouts = meter.create_counter(
            "dflock.lock.timeouts", description="Waits that ended without a grant."
        )
        self.lost = meter.create_counter(
            "dflock.leases.lost", description="Leases lost while held."
        )
        self.errors = meter.create_counter(
            "dflock.server.errors", description="Requests a server could not answer."
        )
        self.holding = meter.create_up_down_counter(
            "dflock.leases.held", description="Leases held now."
        )
        self.pool = meter.create_up_down_counter(
            "dflock.pool.connections", description="Connections open to each server."
        )

    def _span(self, name: str, seconds: float, attributes: dict[str, str]) -> None:
        end = time.time_ns()
        span = self._tracer.start_span(
            name, start_time=end - int(seconds * 1e9), attributes=attributes
        )
        span.end(end_time=end)

    def waited(self, kind: str, name: str, server: str, seconds: float, outcome: str) -> None:
        attributes = {"dflock.kind": kind, "dflock.name": name, "server.address": server,
                      "dflock.outcome": outcome}  # fmt: skip
        self.wait.record(seconds, attributes)
        if outcome == "granted":
            self.holding.add(1, {"dflock.kind": kind})
        elif outcome == "timeout":
            self.timeouts.add(1, attributes)
        self._span("dflock.wait", seconds, attributes)

    def held(self, kind: str, name: str, server: str, seconds: float, outcome: str) -> None:
        attributes = {"dflock.kind": kind, "dflock.name": name, "server.address": server,
                      "dflock.outcome": outcome}  # fmt: skip
        self.hold.record(seconds, attributes)
        self.holding.add(-1, {"dflock.kind": kind})
        if outcome == "lost":
            self.lost.add(1, attributes)
        self._span("dflock.hold", seconds, attributes)

    def server_error(self, server: str, reason: str) -> None:
        self.errors.add(1, {"server.address": server, "error.type": reason})

    def connections(self, server: str, delta: int) -> None:
        self.pool.add(delta, {"server.address": server})
