"""`DflockLockMixin` for class-based views, sync and async.

    class InvoiceUpdate(DflockLockMixin, UpdateView):
        model = Invoice
        dflock_key = "invoice:{pk}"
        dflock_methods = ["POST"]

Put it before the view class so it wraps the whole of `dispatch()`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from dflock_integrations._http.answers import HttpAnswer
from dflock_integrations._http.hold import Hold
from dflock_integrations._http.limiters import hold_for
from dflock_integrations._http.rules import with_head
from dflock_integrations.client import LockMode
from dflock_integrations.django import _holding
from dflock_integrations.django._holding import json_response
from dflock_integrations.keys import KeyTemplate

if TYPE_CHECKING:
    from django.views import View

    _Base = View
else:
    _Base = object


class DflockLockMixin(_Base):
    """Hold `dflock_key` around dispatch: a lock; with `dflock_limit` a semaphore slot;
    with `dflock_max_shared` a multilock (`dflock_mode`, None: by method); with
    `dflock_rate` ("5/s") a rate-limit admission (429 with Retry-After over budget).

    `dflock_key` is a key template filled from the URL's keyword arguments
    (`self.kwargs`); it is checked when the class is defined. Override
    `get_dflock_key()` to build the key another way, or return None to skip, and
    `dflock_response()` to answer refusals another way.
    """

    dflock_key: ClassVar[str | None] = None
    dflock_limit: ClassVar[int | None] = None  # None: a lock; N: one of N semaphore slots
    dflock_methods: ClassVar[Collection[str] | None] = None  # None: every; GET includes HEAD
    dflock_acquire_timeout_s: ClassVar[float | None] = None
    dflock_lease_ttl_s: ClassVar[int | None] = None
    dflock_retry_after_s: ClassVar[float | None] = None
    dflock_max_shared: ClassVar[int | None] = None  # N: a multilock, up to N shared holders
    dflock_mode: ClassVar[LockMode | str | None] = None  # None: GET/HEAD/OPTIONS shared
    dflock_rate: ClassVar[str | None] = None  # "5/s": a rate limit (429 at once over budget)

    _dflock_template: ClassVar[KeyTemplate | None] = None
    _dflock_hold: ClassVar[Hold] = Hold()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Checked at import time, so a bad key or limit never reaches a request.
        cls._dflock_template = None if cls.dflock_key is None else KeyTemplate(cls.dflock_key)
        cls._dflock_hold = hold_for(
            where=cls.__qualname__,
            limit=cls.dflock_limit,
            max_shared=cls.dflock_max_shared,
            mode=cls.dflock_mode,
            rate=cls.dflock_rate,
            label=cls.dflock_key,
            acquire_timeout_s=cls.dflock_acquire_timeout_s,
            lease_ttl_s=cls.dflock_lease_ttl_s,
            retry_after_s=cls.dflock_retry_after_s,
        )
        if cls.dflock_methods is not None:
            if isinstance(cls.dflock_methods, str):
                raise TypeError(f"{cls.__name__}.dflock_methods must be a list, such as ['POST']")
            # A guarded GET guards HEAD, which Django answers with the GET handler.
            cls.dflock_methods = with_head(frozenset(m.upper() for m in cls.dflock_methods))

    def get_dflock_key(self) -> str | None:
        """The key this request takes, or None to run without one."""
        template = self._dflock_template
        if template is None:
            return None
        methods = self.dflock_methods
        if methods is not None and (self.request.method or "").upper() not in methods:
            return None
        return template.render(self.kwargs)

    def dflock_response(self, request: HttpRequest, answer: HttpAnswer) -> HttpResponseBase:
        """The answer when the key is refused (423, 429 or 503); JSON by default."""
        return json_response(request, answer)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        key = self.get_dflock_key()
        parent = functools.partial(super().dispatch, request, *args, **kwargs)
        if key is None:
            return parent()
        if self.view_is_async:
            view = cast(Callable[[], Awaitable[HttpResponseBase]], parent)
            return _holding.arun(self._dflock_hold, request, key, view, self.dflock_response)
        return _holding.run(self._dflock_hold, request, key, parent, self.dflock_response)
