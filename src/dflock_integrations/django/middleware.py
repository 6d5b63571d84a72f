"""`DflockMiddleware`: take a lock or semaphore slot for requests that match a rule.

    DFLOCK = {
        "RULES": [
            {"path": "/orders/{order_id}/pay/", "key": "order:{order_id}", "methods": ["POST"]},
            {"path": "/reports/{name}/", "key": "reports", "limit": 3},
        ],
    }

Rules are those of the ASGI middleware (`dflock_integrations.django.Rule`), matched
against `request.path_info` in order; the first match wins. They are read from
settings on each request, so `override_settings` applies to them too.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from dflock_integrations._http.answers import HttpAnswer
from dflock_integrations._http.rules import Rule, first_match
from dflock_integrations.django import _holding, conf
from dflock_integrations.django._holding import json_response

GetResponse = Callable[[HttpRequest], HttpResponseBase]
AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


class DflockMiddleware:
    """Serialise or cap requests by `DFLOCK["RULES"]`; works under WSGI and ASGI."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse | AsyncGetResponse) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        get_response = cast(GetResponse, self.get_response)
        match = self.match(request)
        if match is None:
            return get_response(request)
        rule, key = match
        call = functools.partial(get_response, request)
        return _holding.run(rule.hold, request, key, call, self.respond)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        get_response = cast(AsyncGetResponse, self.get_response)
        match = self.match(request)
        if match is None:
            return await get_response(request)
        rule, key = match
        call = functools.partial(get_response, request)
        return await _holding.arun(rule.hold, request, key, call, self.respond)

    def match(self, request: HttpRequest) -> tuple[Rule, str] | None:
        """The rule and key for this request, or None; override to match differently."""
        return first_match(conf.get_rules(), request.method or "GET", request.path_info)

    def respond(self, request: HttpRequest, answer: HttpAnswer) -> HttpResponseBase:
        """The answer when the key is refused (423, 429 or 503); JSON by default."""
        return json_response(request, answer)
