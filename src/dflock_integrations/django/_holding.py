"""Run a view while holding its key: Django's side of the HTTP layer's one hold path.

The decorators, the mixin and the middleware call `run` (sync views) or `arun`
(async views); taking, releasing and logging a lost lease are
`dflock_integrations._http.hold`'s. A refusal becomes `respond(request, answer)`,
JSON by default (423 locked, 429 semaphore full, 503 server unreachable, each with
Retry-After, and the rest of `dflock_integrations._http.answers`). A lease lost while
the view ran is logged and the view's response goes out unchanged: the work is done
by then, and failing the request would not undo it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase

from dflock_integrations._http import hold
from dflock_integrations._http.answers import HttpAnswer
from dflock_integrations._http.hold import Hold
from dflock_integrations.django.clients import get_async_client, get_client
from dflock_integrations.errors import DflockError

Responder = Callable[[HttpRequest, HttpAnswer], HttpResponseBase]


def json_response(request: HttpRequest, answer: HttpAnswer) -> HttpResponseBase:
    """The default answer to a refused request: the JSON body, status and Retry-After."""
    return JsonResponse(answer.body, status=answer.status, headers=answer.headers)


def run(
    what: Hold,
    request: HttpRequest,
    key: str,
    view: Callable[[], HttpResponseBase],
    respond: Responder,
) -> HttpResponseBase:
    """`view()` while holding `key`, or the refusal's answer."""
    try:
        lease = what.for_method(request.method or "GET").take_sync(get_client(), key)
    except DflockError as exc:
        return _refused(what, request, exc, respond)
    try:
        return view()
    finally:
        hold.release_sync(lease, request.method or "GET", request.path)


async def arun(
    what: Hold,
    request: HttpRequest,
    key: str,
    view: Callable[[], Awaitable[HttpResponseBase]],
    respond: Responder,
) -> HttpResponseBase:
    """`await view()` while holding `key`, or the refusal's answer."""
    try:
        lease = await what.for_method(request.method or "GET").take(get_async_client(), key)
    except DflockError as exc:
        return _refused(what, request, exc, respond)
    try:
        return await view()
    finally:
        await hold.release(lease, request.method or "GET", request.path)


def _refused(
    what: Hold, request: HttpRequest, exc: DflockError, respond: Responder
) -> HttpResponseBase:
    answer = what.refuse(exc, request.method or "GET", request.path)
    if answer is None:
        raise exc  # not a refusal (a bad key is a bug): a real error
    return respond(request, answer)
