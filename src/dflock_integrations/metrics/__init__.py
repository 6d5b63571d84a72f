"""Lock metrics: how long locks are waited for and held, timeouts, losses, server errors.

`DFLOCK_METRICS=prometheus` sends them to prometheus_client's default registry,
`DFLOCK_METRICS=otel` to OpenTelemetry (metrics, and spans around waiting and holding),
`off` (the default) nowhere. A client also takes a `Metrics` object of its own:
`AsyncDflockClient(metrics=PrometheusMetrics(registry=my_registry))`.

Labels stay bounded: `kind` (lock, semaphore, multilock, rate_limit), `outcome`,
`server`, and `name`, the key's template (`order:{id}`, never `order:42`). The
integrations pass their templates; a key given to the client directly is labelled
by what comes before its first separator (`order:42` -> `order:*`), and past
`MAX_NAMES` distinct names a process labels the rest `other`.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dflock_integrations.metrics._otel import OpenTelemetryMetrics
    from dflock_integrations.metrics._prometheus import PrometheusMetrics

MAX_NAMES = 200
_SEPARATOR = re.compile(r"[:./|#@-]")


class Metrics:
    """What the client reports; this base class reports to nobody (metrics off)."""

    enabled = False

    def waited(self, kind: str, name: str, server: str, seconds: float, outcome: str) -> None:
        """A wait for a grant ended: `granted`, `timeout` or `error`."""

    def held(self, kind: str, name: str, server: str, seconds: float, outcome: str) -> None:
        """A hold ended: `released` or `lost`."""

    def server_error(self, server: str, reason: str) -> None:
        """A server could not be reached, stopped answering, or refused unexpectedly."""

    def connections(self, server: str, delta: int) -> None:
        """The pool opened (+1) or closed (-1) a connection."""


NO_METRICS = Metrics()


class Names:
    """Bounded metric names for keys: a template when given, else the key's first part."""

    def __init__(self, limit: int = MAX_NAMES) -> None:
        self._known: set[str] = set()
        self._limit = limit
        self._guard = threading.Lock()

    def of(self, key: str, template: str | None = None) -> str:
        name = template if template is not None else _first_part(key)
        if name in self._known:
            return name
        with self._guard:
            if len(self._known) >= self._limit:
                return "other"
            self._known.add(name)
        return name


def _first_part(key: str) -> str:
    match = _SEPARATOR.search(key)
    return key if match is None else key[: match.start() + 1] + "*"


def metrics_for(choice: str | Metrics) -> Metrics:
    """The Metrics a setting (`off`, `prometheus`, `otel`) or an object stands for."""
    if isinstance(choice, Metrics):
        return choice
    if choice == "prometheus":
        from dflock_integrations.metrics._prometheus import PrometheusMetrics

        return PrometheusMetrics.default()
    if choice == "otel":
        from dflock_integrations.metrics._otel import OpenTelemetryMetrics

        return OpenTelemetryMetrics()
    return NO_METRICS


def __getattr__(name: str) -> Any:
    # The backends import their library; only load one when it is asked for.
    if name == "PrometheusMetrics":
        from dflock_integrations.metrics._prometheus import PrometheusMetrics

        return PrometheusMetrics
    if name == "OpenTelemetryMetrics":
        from dflock_integrations.metrics._otel import OpenTelemetryMetrics

        return OpenTelemetryMetrics
    raise AttributeError(name)


__all__ = [
    "MAX_NAMES",
    "Metrics",
    "Names",
    "OpenTelemetryMetrics",
    "PrometheusMetrics",
    "metrics_for",
]
