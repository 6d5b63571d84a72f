"""Reports on the web: queue a report, refuse a duplicate, stream every outcome.

    POST /reports/{report_id}   202 {"task_id": ...}, or 423 while that report is in the works
    GET  /events                Server-Sent Events: one `outcome` event per finished run
    GET  /                      a page with a "Generate report" button and the outcomes

The POST takes the lock `report:{report_id}`, the key the worker's `generate_report`
holds while it runs, with no wait (`acquire_timeout_s=0`): a request for a report that
is being generated (or queued by a request at this very moment) is answered 423 with
Retry-After by the installed exception handlers, instead of queueing a duplicate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse

from celery_app.tasks import generate_report
from dflock_integrations.fastapi import (
    HeldLease,
    SignalStreamResponse,
    dflock_lifespan,
    dflock_lock,
    install_exception_handlers,
)

PAGE = Path(__file__).resolve().parent / "index.html"

app = FastAPI(title="Reports", lifespan=dflock_lifespan())  # DFLOCK_* variables
install_exception_handlers(app)  # LockTimeout -> 423, ServerUnavailable -> 503

report_lock = dflock_lock("report:{report_id}", acquire_timeout_s=0)


@app.post("/reports/{report_id}", status_code=202)
def request_report(
    report_id: str, lease: Annotated[HeldLease, Depends(report_lock)]
) -> dict[str, str]:
    # A plain `def`: FastAPI runs it in a thread, since publishing to the broker blocks.
    result = generate_report.delay(report_id)
    return {"report_id": report_id, "task_id": result.id}


@app.get("/events")
async def events(request: Request) -> SignalStreamResponse:
    # Every outcome signal of every Celery task (`celery.{outcome}.{task name}`), each
    # sent as an event named "outcome" rather than its channel: the page needs one listener.
    return SignalStreamResponse(request, "celery.>", event="outcome")


@app.get("/", response_class=HTMLResponse)
def page() -> str:
    return PAGE.read_text(encoding="utf-8")
