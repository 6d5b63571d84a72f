"""The read-only status page: live locks, semaphores and waiters on every server.

The page reloads its tables in place every few seconds (`?refresh=N`, 0 for never):
a small script fetches the page's live part (`?fragment=1`) again. The same stats,
as the JSON document of `dflock stats --json`, are at `json/` beside the page.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.template.response import TemplateResponse

from dflock_integrations.cli.stats_table import HEADERS, stats_document, stats_rows
from dflock_integrations.django import conf
from dflock_integrations.django.clients import get_client
from dflock_integrations.errors import DflockError

TEMPLATE = "dflock/status.html"
FRAGMENT_TEMPLATE = "dflock/_status_live.html"
DEFAULT_REFRESH_S = 5
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
    """Render the page; with `?fragment=1` only its live part, for the page's own refresh.

    It checks no permission itself: `StatusAdmin` serves it through `admin_view`,
    which admits active staff only. Wrap it likewise if you route it elsewhere.
    """
    context = {**(extra_context or {}), **status_context()}
    context["refresh"] = refresh_seconds(request.GET.get("refresh"))
    if request.GET.get("fragment"):
        return TemplateResponse(request, FRAGMENT_TEMPLATE, context)
    return TemplateResponse(request, TEMPLATE, context)


def status_json(request: HttpRequest) -> JsonResponse:
    """The stats as `dflock stats --json` prints them; 503 with `error` when they cannot
    be had (bad settings, a refused token). Staff only, as the page (see `status`)."""
    try:
        conf.get_settings()
        stats = get_client().stats(tolerate_unreachable=True)
    except DflockError as exc:
        return JsonResponse({"error": str(exc)}, status=503)
    return JsonResponse(stats_document(stats))


def refresh_seconds(value: str | None) -> int:
    """`?refresh=N`: N seconds from 1 to an hour, 0 for never, else the default."""
    if value is not None and value.isdigit() and int(value) <= MAX_REFRESH_S:
        return int(value)
    return DEFAULT_REFRESH_S
