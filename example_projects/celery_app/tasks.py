"""`generate_report`: one run per report at a time, and at most two renders at once.

Both guards come from dflock, so they hold across every worker process and machine:

- `@single_instance("report:{report_id}")`: the key the web app also takes while it
  queues a run. While a report is being generated, a new request for it gets 423.
  A run that finds its report busy waits up to 0.5 s (the web request that queued it
  may still be letting go of the key), then is skipped: a second copy of a report
  being generated would be wasted work.
- `@dflock_semaphore("report-render", limit=2)`: rendering is heavy; two at a time,
  whatever the number of worker processes. A third run waits in FIFO order for a slot.

Each run announces its outcome as a dflock signal,
`celery.{outcome}.celery_app.tasks.generate_report` (the decorators do it), which the
web app streams to browsers.
"""

from __future__ import annotations

import os
import time

from celery import Celery

from celery_app.config import celery_config
from dflock_integrations.celery import current_leases, dflock_semaphore, single_instance

app = Celery("celery_app")
app.conf.update(celery_config())

DEFAULT_RENDER_S = 1.5


def render_seconds() -> float:
    """How long the simulated rendering takes (`REPORTS_RENDER_S`, seconds)."""
    return float(os.environ.get("REPORTS_RENDER_S", DEFAULT_RENDER_S))


@app.task
@single_instance("report:{report_id}", on_locked="skip", acquire_timeout_s=0.5)
@dflock_semaphore("report-render", limit=2, acquire_timeout_s=30)
def generate_report(report_id: str) -> dict[str, object]:
    report_lock, render_slot = current_leases()  # outermost decorator first
    started = time.monotonic()
    time.sleep(render_seconds())  # the rendering itself, simulated
    return {
        "report_id": report_id,
        "pages": 12,
        "rendered_s": round(time.monotonic() - started, 3),
        "fence": report_lock.fence,  # what a store would check before saving the file
        "worker_pid": os.getpid(),
        "render_slot": render_slot.name,
    }
