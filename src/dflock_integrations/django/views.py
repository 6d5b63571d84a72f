"""The read-only status page: live locks, semaphores and waiters on every server."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.response import TemplateResponse

from dflock_integrations.cli.stats_table import HEADERS, stats_rows
from dflock_integrations.django import conf
from dflock_integrations.django.clients import get_client
from dflock_integrations.errors import DflockError

TEMPLATE = "dflock/status.html"
MAX_REFRESH_S = 3600


def status_context() -> dict[str, Any]:
    """What the page shows; an error instead of stats when they cannot be had."""
    context: dict[str, Any] = {"headers": HEADERS, "error": None}
    try:
        settings = conf.get_settings()
        stats = get_client().stats(tolerate_unreachable=True)
    except DflockError as exc:  # bad settings, a refused token, a protocol error
        context["error"] = str(exc)
        return context
    rows = stats_rows(stats)
    context.update(
        servers=[str(server) for server in settings.servers],
        key_prefix=settings.key_prefix,
        held=[row for row in rows if row[2] in ("lock", "semaphore")],
        idle=[row for row in rows if row[2] not in ("lock", "semaphore")],
        listeners=sorted(stats.signal_channels, key=lambda e: (e["server"], e.get("pattern", ""))),
        connections=sorted(stats.connections.items()),
        unreachable=sorted(stats.unreachable.items()),
    )
    return context


def status(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
    """Render the page; `?refresh=N` reloads it every N seconds.

    It checks no permission itself: `StatusAdmin` serves it through `admin_view`,
    which admits active staff only. Wrap it likewise if you route it elsewhere.
    """
    context = {**(extra_context or {}), **status_context()}
    refresh = request.GET.get("refresh", "")
    if refresh.isdigit() and 0 < int(refresh) <= MAX_REFRESH_S:
        context["refresh"] = int(refresh)
    return TemplateResponse(request, TEMPLATE, context)
