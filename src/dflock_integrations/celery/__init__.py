"""Celery integration: one running instance per key, slots, shared/exclusive holds,
global rate limits, outcome signals.

    app = Celery("shop")
    install_outcome_signals(app)          # optional: signals for every task

    @app.task(bind=True)
    @single_instance("report:{report_id}", on_locked="skip")
    def build_report(self, report_id): ...

    is_skipped(build_report.delay(7).get())   # True when another run held report:7

    @app.task
    @dflock_semaphore("pdf-render", limit=4)
    def render_pdf(document_id): ...

    @app.task
    @dflock_multilock("index", max_shared=8, mode="shared")   # or "exclusive"
    def report(index_id): ...

    @app.task(max_retries=None)
    @dflock_rate_limit("geocoder", "2/s")   # over budget: retried when a permit is likely
    def geocode(address): ...

See docs/celery.md.
"""

from __future__ import annotations

# The framework, or an ImportError naming the extra to install.
from dflock_integrations._extras import celery  # noqa: F401
from dflock_integrations.celery._config import close_clients, get_client, get_settings
from dflock_integrations.celery._current import current_lease, current_leases, ensure_held
from dflock_integrations.celery._decorators import (
    dflock_multilock,
    dflock_rate_limit,
    dflock_semaphore,
    single_instance,
)
from dflock_integrations.celery._outcomes import OUTCOMES, install_outcome_signals, outcome_channel
from dflock_integrations.celery._readiness import install_readiness_probe
from dflock_integrations.celery._sender import flush_outcome_signals
from dflock_integrations.celery._skipped import is_skipped

__all__ = [
    "OUTCOMES",
    "close_clients",
    "current_lease",
    "current_leases",
    "dflock_multilock",
    "dflock_rate_limit",
    "dflock_semaphore",
    "ensure_held",
    "flush_outcome_signals",
    "get_client",
    "get_settings",
    "install_outcome_signals",
    "install_readiness_probe",
    "is_skipped",
    "outcome_channel",
    "single_instance",
]
