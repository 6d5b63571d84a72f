"""Testing a Django project with the plugin's server: run with `pytest test_project.py`."""

# --8<-- [start:tests]
import pytest

from dflock_integrations.django import lock


@pytest.fixture(autouse=True)
def dflock_for_django(settings, dflock_server, dflock_settings):
    settings.DFLOCK = {
        "SERVERS": [dflock_server.address],
        "KEY_PREFIX": dflock_settings.key_prefix,  # unique per test
        "ACQUIRE_TIMEOUT_S": 0.5,  # refusals come quickly
    }


def test_pay_is_refused_while_the_invoice_is_locked(client):
    with lock("invoice:7"):
        response = client.post("/invoices/7/pay/")
    assert response.status_code == 423


# --8<-- [end:tests]


def test_pay_goes_through_when_the_invoice_is_free(client):
    assert client.post("/invoices/7/pay/").json() == {"paid": 7}


def test_each_test_has_a_prefix_of_its_own(dflock_settings):
    from dflock_integrations.django import get_settings

    assert get_settings().key_prefix == dflock_settings.key_prefix


def _site() -> list:
    """In a project, pytest-django finds your settings; this file configures a small site."""
    import django
    from django.conf import settings
    from django.http import JsonResponse
    from django.urls import path

    from dflock_integrations.django import dflock_lock

    settings.configure(
        ALLOWED_HOSTS=["testserver"],
        SECRET_KEY="docs-example",
        INSTALLED_APPS=["dflock_integrations.django"],
        ROOT_URLCONF=__name__,
    )
    django.setup()

    @dflock_lock("invoice:{pk}")
    def pay(request, pk):
        return JsonResponse({"paid": pk})

    return [path("invoices/<int:pk>/pay/", pay)]


urlpatterns = _site()

if __name__ == "__main__":  # the docs' test suite runs this file through pytest
    import os
    import sys

    os.execv(
        sys.executable, [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider"]
    )
