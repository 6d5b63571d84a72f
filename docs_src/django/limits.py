"""Shared and exclusive holds and rate limits: decorators, the mixin and middleware rules."""

# --8<-- [start:views]
from django.http import JsonResponse
from django.urls import path
from django.views import View

from dflock_integrations.django import DflockLockMixin, dflock_multilock, dflock_rate_limit

pages = {"home": "welcome"}  # stands in for your models


@dflock_multilock("page:{name}", max_shared=16, acquire_timeout_s=0)  # GET shares, POST alone
def page(request, name):
    if request.method == "POST":
        pages[name] = request.POST.get("text", "")
    return JsonResponse({"name": name, "text": pages[name]})


@dflock_rate_limit("search:{user}", "5/m")  # 5 a minute per user, across every process
async def search(request, user):
    return JsonResponse({"user": user, "results": []})


class ExportView(DflockLockMixin, View):
    dflock_key = "export:{kind}"
    dflock_rate = "2/m"  # or dflock_max_shared = N (and dflock_mode) for a multilock

    def get(self, request, kind):
        return JsonResponse({"export": kind})


urlpatterns = [
    path("pages/<str:name>/", page),
    path("search/<str:user>/", search),
    path("exports/<str:kind>/", ExportView.as_view()),
    # Guarded by the middleware rules below, not by decorators:
    path("docs/<str:name>/", lambda request, name: JsonResponse({"doc": name})),
    path("api/<str:user>/", lambda request, user: JsonResponse({"user": user})),
]
# --8<-- [end:views]

# --8<-- [start:rules]
DFLOCK = {
    "RULES": [
        # GET shares the document; every other method has it alone (423 when kept out).
        {"path": "/docs/{name}/", "key": "doc:{name}", "max_shared": 16, "acquire_timeout_s": 0},
        # 429 with Retry-After past 100 requests a minute per user.
        {"path": "/api/{user}/", "key": "api:{user}", "rate": "100/m"},
    ],
}
# --8<-- [end:rules]


if __name__ == "__main__":
    import asyncio
    import os

    import django
    from django.conf import settings

    settings.configure(
        ALLOWED_HOSTS=["testserver"],
        SECRET_KEY="docs-example",
        INSTALLED_APPS=["dflock_integrations.django"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["dflock_integrations.django.middleware.DflockMiddleware"],
        DFLOCK={
            **DFLOCK,
            "SERVERS": os.environ["DFLOCK_SERVERS"],
            "KEY_PREFIX": os.environ["DFLOCK_KEY_PREFIX"],
        },
    )
    django.setup()

    from django.core.management import call_command
    from django.test import AsyncClient, Client

    from dflock_integrations import SyncDflockClient

    call_command("check", fail_level="WARNING")
    browser = Client()
    other = SyncDflockClient()  # another process, on the same keys

    reading = other.multilock("page:home", max_shared=16).acquire("shared")  # someone reads
    assert browser.get("/pages/home/").status_code == 200  # reading shares
    kept_out = browser.post("/pages/home/", {"text": "hi"})
    reading.release(wait=True)  # confirmed: the next request finds it gone
    assert kept_out.status_code == 423, kept_out.content
    assert kept_out["Retry-After"] == "1" and kept_out.json()["error"] == "locked"
    assert browser.post("/pages/home/", {"text": "hi"}).json()["text"] == "hi"

    for _ in range(2):
        assert browser.get("/exports/csv/").status_code == 200
    over = browser.get("/exports/csv/")
    assert over.status_code == 429, over.content
    assert 1 <= int(over["Retry-After"]) <= 60 and over.json()["error"] == "rate_limited"

    async def searches() -> None:
        http = AsyncClient()
        answers = [await http.get("/search/ann/") for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429], answers

    asyncio.run(searches())
    # The middleware's rules.
    assert browser.get("/api/ann/").status_code == 200
    reading = other.multilock("doc:guide", max_shared=16).acquire("shared")
    assert browser.get("/docs/guide/").status_code == 200
    assert browser.delete("/docs/guide/").status_code == 423
    reading.release(wait=True)
    other.close()
    print("ok")
