"""Run a view while holding a lock or semaphore slot; shared by decorators, mixin, middleware.

Refusals become the JSON answers of `dflock_integrations.http_answers` (423 locked,
429 semaphore full, 503 server unreachable, each with Retry-After, and the rest of
its table). A lease lost while the view ran is logged and the view's response goes
out unchanged: the work is done by then, and failing the request would not undo it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase

from dflock_integrations.client import AsyncLease, SyncLease
from dflock_integrations.django.clients import get_async_client, get_client
from dflock_integrations.errors import DflockError, LockLostError, describe
from dflock_integrations.http_answers import HttpAnswer, answer_for, log_answer
from dflock_integrations.options import check_lease_options

log = logging.getLogger("dflock_integrations.django")

Responder = Callable[[HttpRequest, HttpAnswer], HttpResponseBase]


def json_response(request: HttpRequest, answer: HttpAnswer) -> HttpResponseBase:
    """The default answer to a refused request: the JSON body, status and Retry-After."""
    return JsonResponse(answer.body, status=answer.status, headers=answer.headers)


@dataclass(frozen=True, slots=True)
class Guard:
    """How to take one key: a lock (`limit` None) or one of `limit` semaphore slots."""

    limit: int | None = None
    acquire_timeout_s: float | None = None
    lease_ttl_s: int | None = None
    retry_after_s: float | None = None
    respond: Responder = json_response

    def __post_init__(self) -> None:
        check_lease_options(
            limit=self.limit,
            acquire_timeout_s=self.acquire_timeout_s,
            lease_ttl_s=self.lease_ttl_s,
        )

    def run(
        self,
        request: HttpRequest,
        key: str,
        view: Callable[[], HttpResponseBase],
        *,
        respond: Responder | None = None,
    ) -> HttpResponseBase:
        """`view()` while holding `key`, or the refusal's answer."""
        try:
            handle = get_client().lease(key, limit=self.limit, **self._options)
            handle.__enter__()
        except DflockError as exc:
            if (refusal := self._refusal(request, exc, respond)) is None:
                raise  # not a refusal (a bad key is a bug): a real error
            return refusal
        try:
            return view()
        finally:
            try:
                handle.release(wait=True)  # the next request must find the key free
            except LockLostError as exc:
                _log_lost(request, handle, exc)

    async def arun(
        self,
        request: HttpRequest,
        key: str,
        view: Callable[[], Awaitable[HttpResponseBase]],
        *,
        respond: Responder | None = None,
    ) -> HttpResponseBase:
        """`await view()` while holding `key`, or the refusal's answer."""
        try:
            handle = get_async_client().lease(key, limit=self.limit, **self._options)
            await handle.__aenter__()
        except DflockError as exc:
            if (refusal := self._refusal(request, exc, respond)) is None:
                raise  # not a refusal (a bad key is a bug): a real error
            return refusal
        try:
            return await view()
        finally:
            try:
                await handle.release(wait=True)  # the next request must find the key free
            except LockLostError as exc:
                _log_lost(request, handle, exc)

    @property
    def _options(self) -> dict[str, Any]:
        return {"acquire_timeout_s": self.acquire_timeout_s, "lease_ttl_s": self.lease_ttl_s}

    def _refusal(
        self, request: HttpRequest, exc: DflockError, respond: Responder | None
    ) -> HttpResponseBase | None:
        answer = answer_for(exc, retry_after_s=self.retry_after_s)
        if answer is None:
            return None
        log_answer(exc, answer, request.method or "GET", request.path)
        return (respond or self.respond)(request, answer)


def _log_lost(request: HttpRequest, handle: SyncLease | AsyncLease, exc: LockLostError) -> None:
    log.error(
        "dflock lease on %r was lost while %s %s ran; the response was sent unchanged: %s",
        handle.name,
        request.method,
        request.path,
        describe(exc),
    )
