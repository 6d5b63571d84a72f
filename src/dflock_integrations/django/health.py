"""A django-health-check (4 or newer) check: every dflock server answers in time.

    from health_check.views import HealthCheckView

    urlpatterns = [
        path("health/", HealthCheckView.as_view(checks=[
            "health_check.checks.Database",
            "dflock_integrations.django.health.Dflock",
        ])),
    ]

It passes when every server in `DFLOCK["SERVERS"]` (each shard, each cluster member)
answers a ping within `timeout_s`, by default `DFLOCK["HEALTH_TIMEOUT_S"]` (1 s), on
connections of its own. `pip install "dflock-integrations[health]"` brings the package.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

try:
    from health_check.base import HealthCheck
    from health_check.exceptions import ServiceUnavailable
except ImportError:
    raise ImportError(
        "dflock_integrations.django.health needs django-health-check 4 or newer: "
        'pip install "dflock-integrations[health]"'
    ) from None

from dflock_integrations.django import conf
from dflock_integrations.errors import ConfigurationError
from dflock_integrations.health import acheck_health

# What django-health-check gives a check when the settings cannot say (its own default).
_FALLBACK_BUDGET_S = 5.0


@dataclasses.dataclass
class Dflock(HealthCheck):  # type: ignore[misc]
    """Unavailable when a server does not answer within `timeout_s`, or when the
    settings cannot work; the message names the server and what happened."""

    timeout_s: float | None = None

    @property
    def timeout(self) -> timedelta:
        # django-health-check's own bound, kept above ours so that our message wins.
        try:
            seconds = self.timeout_s or conf.get_settings().health_timeout_s
        except ConfigurationError:
            seconds = _FALLBACK_BUDGET_S
        return timedelta(seconds=seconds + 1)

    async def run(self) -> None:
        try:
            settings = conf.get_settings()
        except ConfigurationError as exc:
            raise ServiceUnavailable(f"dflock settings cannot work: {exc}") from None
        health = await acheck_health(settings, timeout_s=self.timeout_s)
        if not health.ready:
            raise ServiceUnavailable(health.summary())
