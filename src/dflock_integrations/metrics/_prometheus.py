"""`PrometheusMetrics`: the client's metrics as prometheus_client collectors."""

from __future__ import annotations

import threading
from typing import Any

try:
    import prometheus_client
except ImportError:  # pragma: no cover - depends on the user's environment
    raise ImportError(
        "DFLOCK_METRICS=prometheus needs prometheus_client: "
        "pip install dflock-integrations[prometheus]"
    ) from None

from dflock_integrations.metrics import Metrics

# Lock waits run from well under a millisecond to minutes.
WAIT_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)
HOLD_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)


class PrometheusMetrics(Metrics):
    enabled = True
    _default: PrometheusMetrics | None = None
    _default_guard = threading.Lock()

    def __init__(self, registry: Any = None) -> None:
        registry = prometheus_client.REGISTRY if registry is None else registry
        lease = ["kind", "name", "server", "outcome"]
        self.wait = prometheus_client.Histogram(
            "dflock_lock_wait_seconds",
            "Time waited for a lock, semaphore slot, multilock or rate-limit admission.",
            lease,
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.hold = prometheus_client.Histogram(
            "dflock_lock_hold_seconds",
            "Time a lease was held, until released or lost.",
            lease,
            buckets=HOLD_BUCKETS,
            registry=registry,
        )
        self.timeouts = prometheus_client.Counter(
            "dflock_lock_timeouts_total",
            "Waits that ended without a grant.",
            ["kind", "name", "server"],
            registry=registry,
        )
        self.lost = prometheus_client.Counter(
            "dflock_leases_lost_total",
            "Leases lost while held (renewal refused or late, connection closed).",
            ["kind", "name", "server"],
            registry=registry,
        )
        self.errors = prometheus_client.Counter(
            "dflock_server_errors_total",
            "Requests a server could not answer (unreachable, silent, refusing).",
            ["server", "reason"],
            registry=registry,
        )
        self.holding = prometheus_client.Gauge(
            "dflock_leases_held", "Leases held now.", ["kind"], registry=registry
        )
        self.pool = prometheus_client.Gauge(
            "dflock_pool_connections",
            "Connections open to each server, idle or in use.",
            ["server"],
            registry=registry,
        )
        # prometheus_client's labels() parses its arguments on every call; a lock cycle
        # reuses the same few children, so they are kept.
        self._children: dict[tuple[Any, ...], Any] = {}

    @classmethod
    def default(cls) -> PrometheusMetrics:
        """The one instance on the default registry (collectors register once)."""
        with cls._default_guard:
            if cls._default is None:
                cls._default = cls()
            return cls._default

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def waited(self, kind: str, name: str, server: str, seconds: float, outcome: str) -> None:
        self._child(self.wait, kind, name, server, outcome).observe(seconds)
        if outcome == "granted":
            self._child(self.holding, kind).inc()
        elif outcome == "timeout":
            self._child(self.timeouts, kind, name, server).inc()

    def held(self, kind: str, name: str, server: str, seconds: float, outcome: str) -> None:
        self._child(self.hold, kind, name, server, outcome).observe(seconds)
        self._child(self.holding, kind).dec()
        if outcome == "lost":
            self._child(self.lost, kind, name, server).inc()

    def server_error(self, server: str, reason: str) -> None:
        self._child(self.errors, server, reason).inc()

    def connections(self, server: str, delta: int) -> None:
        self._child(self.pool, server).inc(delta)
