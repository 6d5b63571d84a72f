"""View decorators: a lock per invoice for a sync view, a semaphore for an async one."""

import asyncio

# --8<-- [start:views]
from django.http import JsonResponse
from django.urls import path

from dflock_integrations.django import dflock_lock, dflock_semaphore

invoices = {7: {"paid": False}, 8: {"paid": False}}  # stands in for your models


@dflock_lock("invoice:{pk}")
def pay(request, pk):
    invoice = invoices[pk]
    if invoice["paid"]:
        return JsonResponse({"paid": pk, "already": True})
    invoice["paid"] = True  # ... charge the card ...
    return JsonResponse({"paid": pk})


@dflock_semaphore("reports", limit=3, acquire_timeout_s=0)  # at most 3, anywhere
async def build_report(request):
    return JsonResponse(await make_report())


urlpatterns = [
    path("invoices/<int:pk>/pay/", pay),
    path("reports/", build_report),
]
# --8<-- [end:views]


async def make_report() -> dict:
    await asyncio.sleep(0.01)  # stands in for the real work
    return {"report": "ready"}


if __name__ == "__main__":
    import os

    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["testserver"],
        SECRET_KEY="docs-example",
        INSTALLED_APPS=["dflock_integrations.django"],
        ROOT_URLCONF=__name__,  # the urlpatterns above
        DFLOCK={
            "SERVERS": os.environ["DFLOCK_SERVERS"],
            "KEY_PREFIX": os.environ["DFLOCK_KEY_PREFIX"],
            "ACQUIRE_TIMEOUT_S": 0.5,  # keeps the refusals below quick
        },
    )
    django.setup()

    from django.core.management import call_command
    from django.test import AsyncClient, Client

    from dflock_integrations import SyncDflockClient

    call_command("check", fail_level="WARNING")  # E004: every key's {pk} is in its URL

    browser = Client()
    other = SyncDflockClient()  # another process, holding the same keys

    assert browser.post("/invoices/7/pay/").json() == {"paid": 7}
    with other.lock("invoice:7"):
        locked = browser.post("/invoices/7/pay/")
        assert browser.post("/invoices/8/pay/").status_code == 200  # another invoice: free
    assert locked.status_code == 423, locked.content
    assert locked["Retry-After"] == "1"
    body = locked.json()
    assert (body["error"], body["key"]) == ("locked", "invoice:7"), body
    assert browser.post("/invoices/7/pay/").json() == {"paid": 7, "already": True}

    async def reports() -> None:
        http = AsyncClient()
        assert (await http.get("/reports/")).json() == {"report": "ready"}
        slots = [other.semaphore("reports", limit=3) for _ in range(3)]
        for slot in slots:
            slot.acquire()
        try:
            full = await http.get("/reports/")  # acquire_timeout_s=0: answered at once
        finally:
            for slot in slots:
                slot.release()
        assert full.status_code == 429, full.content
        assert full["Retry-After"] == "1"
        assert (full.json()["error"], full.json()["limit"]) == ("too_many_concurrent", 3)
        assert (await http.get("/reports/")).status_code == 200

    asyncio.run(reports())
    other.close()
    print("ok")
