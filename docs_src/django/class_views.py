"""DflockLockMixin: a lock for POST only, and a semaphore slot around an async view."""

import asyncio

# --8<-- [start:views]
from django.http import JsonResponse
from django.urls import path
from django.views import View

from dflock_integrations.django import DflockLockMixin

invoices = {4: {"amount": 100}}  # stands in for your models


class InvoiceUpdate(DflockLockMixin, View):
    dflock_key = "invoice:{pk}"  # filled from self.kwargs
    dflock_methods = ["POST"]  # GET shows the invoice without the lock

    def get(self, request, pk):
        return JsonResponse(invoices[pk])

    def post(self, request, pk):
        invoices[pk]["amount"] = int(request.POST["amount"])
        return JsonResponse(invoices[pk])


class ReportView(DflockLockMixin, View):
    dflock_key = "reports"
    dflock_limit = 3  # a semaphore slot instead of a lock
    dflock_acquire_timeout_s = 0

    async def get(self, request):  # async handlers work too
        await asyncio.sleep(0.01)
        return JsonResponse({"report": "ready"})


urlpatterns = [
    path("invoices/<int:pk>/", InvoiceUpdate.as_view()),
    path("reports/", ReportView.as_view()),
]
# --8<-- [end:views]


if __name__ == "__main__":
    import os

    import django
    from django.conf import settings

    settings.configure(
        ALLOWED_HOSTS=["testserver"],
        SECRET_KEY="docs-example",
        INSTALLED_APPS=["dflock_integrations.django"],
        ROOT_URLCONF=__name__,
        DFLOCK={
            "SERVERS": os.environ["DFLOCK_SERVERS"],
            "KEY_PREFIX": os.environ["DFLOCK_KEY_PREFIX"],
            "ACQUIRE_TIMEOUT_S": 0.5,
        },
    )
    django.setup()

    from django.core.management import call_command
    from django.test import AsyncClient, Client

    from dflock_integrations import InvalidKeyError, SyncDflockClient

    call_command("check", fail_level="WARNING")

    browser = Client()
    other = SyncDflockClient()
    assert browser.post("/invoices/4/", {"amount": 120}).json() == {"amount": 120}
    with other.lock("invoice:4"):
        refused = browser.post("/invoices/4/", {"amount": 130})
        shown = browser.get("/invoices/4/")  # GET does not take the lock
    assert refused.status_code == 423 and refused["Retry-After"] == "1", refused.content
    assert refused.json()["key"] == "invoice:4"
    assert shown.status_code == 200 and shown.json() == {"amount": 120}

    async def reports() -> None:
        http = AsyncClient()
        assert (await http.get("/reports/")).json() == {"report": "ready"}
        slots = [other.semaphore("reports", limit=3) for _ in range(3)]
        for slot in slots:
            slot.acquire()
        try:
            full = await http.get("/reports/")
        finally:
            for slot in slots:
                slot.release()
        assert full.status_code == 429 and full.json()["limit"] == 3, full.content

    asyncio.run(reports())

    # Attributes are checked when the class is defined, not at the first request.
    try:

        class Broken(DflockLockMixin, View):
            dflock_key = "invoice {pk}"  # a space: not a valid key

    except InvalidKeyError:
        pass
    else:
        raise AssertionError("a bad dflock_key was accepted")
    other.close()
    print("ok")
