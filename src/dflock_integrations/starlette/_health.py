"""`dflock_readiness()`: an endpoint answering 200 when every dflock server answers, else 503."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse

from dflock_integrations.errors import ConfigurationError
from dflock_integrations.health import Health, acheck_health
from dflock_integrations.settings import DflockSettings
from dflock_integrations.starlette._state import client_in

# A probe's answer is about this moment; no cache may keep it.
_HEADERS = {"Cache-Control": "no-store"}


def dflock_readiness(
    settings: DflockSettings | None = None, *, timeout_s: float | None = None
) -> Callable[[Request], Awaitable[JSONResponse]]:
    """An endpoint for a readiness probe, in FastAPI or Starlette:

        app.add_api_route("/ready", dflock_readiness(), include_in_schema=False)
        Route("/ready", dflock_readiness())

    It answers 200 when every configured server (each shard, each cluster member)
    answers a ping within `timeout_s` (default `DFLOCK_HEALTH_TIMEOUT_S`, 1 s), else
    503; the body is `Health.to_dict()`. Settings are the app's own (those of its
    client) unless given. The probe uses connections of its own, never the app's.
    """
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"dflock_readiness(timeout_s=...) must be > 0, got {timeout_s!r}")

    async def readiness(request: Request) -> JSONResponse:
        try:
            chosen = settings if settings is not None else client_in(request.scope).settings
        except ConfigurationError as exc:
            health = Health(timeout_s or 0.0, error=str(exc))
        else:
            health = await acheck_health(chosen, timeout_s=timeout_s)
        status = 200 if health.ready else 503
        return JSONResponse(health.to_dict(), status_code=status, headers=_HEADERS)

    return readiness
