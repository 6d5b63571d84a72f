"""Views under test. Each records how many requests are inside it at once."""

import asyncio
import threading
import time

from django.http import HttpResponse, JsonResponse
from django.views import View

from dflock_integrations.django import (
    DflockLockMixin,
    dflock_lock,
    dflock_multilock,
    dflock_rate_limit,
    dflock_semaphore,
    get_client,
    get_settings,
)

# A guarded request waits this long for company: if the lock or semaphore let one
# more in, it would enter during the wait and be counted.
LINGER_S = 0.05
# Requests that should meet (unguarded, or up to a semaphore's limit) wait at most
# this long for that to happen once; then they all leave.
MEET_S = 5.0


class Occupancy:
    """Counts requests inside a view; `peak` is the most ever inside at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inside = 0
        self.peak = 0
        self.entered = 0

    def _enter(self) -> None:
        with self._lock:
            self.inside += 1
            self.entered += 1
            self.peak = max(self.peak, self.inside)

    def _leave(self) -> None:
        with self._lock:
            self.inside -= 1

    def visit(self, want: int, wait_s: float, linger_s: float = 0.0) -> None:
        """Stay until `want` have been inside at once (at most `wait_s`), then `linger_s`."""
        self._enter()
        try:
            deadline = time.monotonic() + wait_s
            while self.peak < want and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(linger_s)
        finally:
            self._leave()

    async def avisit(self, want: int, wait_s: float, linger_s: float = 0.0) -> None:
        self._enter()
        try:
            deadline = time.monotonic() + wait_s
            # Polled, not an asyncio.Event: sync views in other threads update it too.
            while self.peak < want and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.002)
            await asyncio.sleep(linger_s)
        finally:
            self._leave()


occupancy: dict[str, Occupancy] = {}


def room(name: str) -> Occupancy:
    return occupancy.setdefault(name, Occupancy())


def held(key: str) -> bool:
    """Whether the server reports `key` (without prefix) as held right now."""
    full = get_settings().key_prefix + key
    return get_client().stats().find(full) is not None


def unguarded(request, name):
    room(name).visit(want=2, wait_s=MEET_S)
    return HttpResponse(name)


@dflock_lock("counter:{name}", acquire_timeout_s=30)
def guarded(request, name):
    room(name).visit(want=2, wait_s=LINGER_S)
    return HttpResponse(name)


@dflock_lock("counter:{name}", acquire_timeout_s=30)
async def aguarded(request, name):
    await room(name).avisit(want=2, wait_s=LINGER_S)
    return HttpResponse(name)


@dflock_semaphore("pool:{name}", limit=3, acquire_timeout_s=30)
def pooled(request, name):
    room(name).visit(want=3, wait_s=MEET_S, linger_s=LINGER_S)
    return HttpResponse(name)


@dflock_semaphore("pool:{name}", limit=3, acquire_timeout_s=30)
async def apooled(request, name):
    await room(name).avisit(want=3, wait_s=MEET_S, linger_s=LINGER_S)
    return HttpResponse(name)


@dflock_lock("invoice:{pk}", acquire_timeout_s=0, retry_after_s=7)
def invoice(request, pk):
    return JsonResponse({"pk": pk, "held": held(f"invoice:{pk}")})


@dflock_lock("invoice:{pk}", acquire_timeout_s=0)
async def ainvoice(request, pk):
    return JsonResponse({"pk": pk})


@dflock_semaphore("reports", limit=2, acquire_timeout_s=0)
def report(request):
    return HttpResponse("report")


@dflock_semaphore("reports", limit=2, acquire_timeout_s=0)
async def areport(request):
    return HttpResponse("report")


@dflock_lock("invoice:{pk}", acquire_timeout_s=0)
def invoice_fails(request, pk):
    raise ValueError("the view's own error")


class InvoiceView(DflockLockMixin, View):
    dflock_key = "invoice:{pk}"
    dflock_methods = ["POST"]
    dflock_acquire_timeout_s = 0

    def get(self, request, pk):
        return JsonResponse({"pk": pk, "method": "GET"})

    def post(self, request, pk):
        return JsonResponse({"pk": pk, "held": held(f"invoice:{pk}")})


class ReceiptView(DflockLockMixin, View):
    dflock_key = "receipt:{pk}"
    dflock_methods = ["GET"]  # and so HEAD, which runs get()
    dflock_acquire_timeout_s = 0

    def get(self, request, pk):
        return JsonResponse({"pk": pk})


class AsyncInvoiceView(DflockLockMixin, View):
    dflock_key = "invoice:{pk}"
    dflock_acquire_timeout_s = 0

    async def get(self, request, pk):
        return JsonResponse({"pk": pk})


class ReportView(DflockLockMixin, View):
    dflock_key = "reports"
    dflock_limit = 2
    dflock_acquire_timeout_s = 0

    def dflock_response(self, request, answer):
        return HttpResponse(f"busy, retry in {answer.headers['Retry-After']} s", status=503)

    def get(self, request):
        return HttpResponse("report")


def mw_order(request, order_id):
    return JsonResponse({"order": order_id, "held": held(f"order:{order_id}")})


async def amw_order(request, order_id):
    return JsonResponse({"order": order_id})


def mw_report(request, name):
    return HttpResponse("report")


# Set by a test: runs inside `lease_lost`, while its lock is held.
while_held = {"hook": lambda: None}


@dflock_lock("lease:{n}", lease_ttl_s=1)
def lease_lost(request, n):
    while_held["hook"]()
    return HttpResponse("work done")


# -- multilocks and rate limits -----------------------------------------------------------


@dflock_multilock("page:{name}", max_shared=3, acquire_timeout_s=0)
def page(request, name):
    return JsonResponse({"name": name, "method": request.method})


@dflock_multilock("page:{name}", max_shared=3, acquire_timeout_s=0)
async def apage(request, name):
    return JsonResponse({"name": name, "method": request.method})


@dflock_rate_limit("quota:{name}", "3/m")
def quota(request, name):
    return JsonResponse({"name": name})


@dflock_rate_limit("aquota:{name}", "3/m")
async def aquota(request, name):
    return JsonResponse({"name": name})


class PageView(DflockLockMixin, View):
    dflock_key = "page:{name}"
    dflock_max_shared = 3  # GET shares, POST excludes
    dflock_acquire_timeout_s = 0

    def get(self, request, name):
        return JsonResponse({"name": name})

    def post(self, request, name):
        return JsonResponse({"name": name})


class QuotaView(DflockLockMixin, View):
    dflock_key = "cbvquota:{name}"
    dflock_rate = "2/m"

    def get(self, request, name):
        return JsonResponse({"name": name})


def mw_page(request, name):
    return JsonResponse({"name": name})


def mw_quota(request, name):
    return JsonResponse({"name": name})
