"""DflockMiddleware: locks by URL, configured in settings, without touching the views."""

from django.http import JsonResponse
from django.urls import path

# --8<-- [start:settings]
MIDDLEWARE = [
    # ... after authentication, so refused requests are cheap:
    "dflock_integrations.django.middleware.DflockMiddleware",
]

DFLOCK = {
    "RULES": [
        {"path": "/orders/{order_id}/pay/", "key": "order:{order_id}", "methods": ["POST"]},
        {"path": "/exports/{kind}/", "key": "exports", "limit": 2, "acquire_timeout_s": 0},
    ],
}
# --8<-- [end:settings]


def pay(request, order_id):
    return JsonResponse({"order": order_id, "paid": request.method == "POST"})


def export(request, kind):
    return JsonResponse({"export": kind})


urlpatterns = [
    path("orders/<str:order_id>/pay/", pay),
    path("exports/<str:kind>/", export),
    path("orders/<str:order_id>/", pay),
]


if __name__ == "__main__":
    import os

    import django
    from django.conf import settings

    # SERVERS and KEY_PREFIX are not in DFLOCK: they come from DFLOCK_* variables.
    os.environ["DFLOCK_ACQUIRE_TIMEOUT_S"] = "0.5"  # the order rule's wait, kept short here
    settings.configure(
        ALLOWED_HOSTS=["testserver"],
        SECRET_KEY="docs-example",
        INSTALLED_APPS=["dflock_integrations.django"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=MIDDLEWARE,
        DFLOCK=DFLOCK,
    )
    django.setup()

    import asyncio

    from django.core.management import call_command
    from django.test import AsyncClient, Client

    from dflock_integrations import SyncDflockClient

    call_command("check", fail_level="WARNING")  # no W005: the middleware is installed

    browser = Client()
    other = SyncDflockClient()
    assert browser.post("/orders/7/pay/").json() == {"order": "7", "paid": True}
    with other.lock("order:7"):
        locked = browser.post("/orders/7/pay/")
        assert browser.get("/orders/7/pay/").status_code == 200  # GET: not in "methods"
        assert browser.post("/orders/8/pay/").status_code == 200  # another order
        assert browser.post("/orders/7/").status_code == 200  # no rule matches
    assert locked.status_code == 423 and locked["Retry-After"] == "1", locked.content
    assert locked.json()["key"] == "order:7"

    with other.semaphore("exports", limit=2), other.semaphore("exports", limit=2):
        full = browser.get("/exports/csv/")
    assert full.status_code == 429 and full.json()["limit"] == 2, full.content
    assert browser.get("/exports/csv/").json() == {"export": "csv"}

    async def under_asgi() -> None:  # the same middleware, with no thread hop
        http = AsyncClient()
        assert (await http.post("/orders/9/pay/")).status_code == 200
        with other.lock("order:9"):
            refused = await http.post("/orders/9/pay/")
        assert refused.status_code == 423, refused.content

    asyncio.run(under_asgi())

    # Without the middleware, the check warns that no rule applies.
    from django.test import override_settings

    with override_settings(MIDDLEWARE=[]):
        from dflock_integrations.django.checks import check_settings

        assert [m.id for m in check_settings()] == ["dflock.W005"]
    other.close()
    print("ok")
