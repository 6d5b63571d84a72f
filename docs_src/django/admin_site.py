"""The status page on a custom AdminSite: staff see live locks, others go to the login."""

# ruff: noqa: E402  (Django is configured before the admin can be imported)

import os

import django
from django.conf import settings

settings.configure(
    ALLOWED_HOSTS=["testserver"],
    SECRET_KEY="docs-example",
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "dflock_integrations.django",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ],
    ROOT_URLCONF=__name__,
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ],
            },
        }
    ],
    DFLOCK={"SERVERS": os.environ["DFLOCK_SERVERS"], "KEY_PREFIX": os.environ["DFLOCK_KEY_PREFIX"]},
)
django.setup()

from django.contrib.admin import AdminSite
from django.urls import path

my_site = AdminSite(name="myadmin")

# --8<-- [start:register]
from dflock_integrations.django.admin import StatusAdmin
from dflock_integrations.django.models import Status

my_site.register(Status, StatusAdmin)
# --8<-- [end:register]

urlpatterns = [path("myadmin/", my_site.urls)]

if __name__ == "__main__":
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from dflock_integrations.django import lock

    call_command("migrate", verbosity=0)
    browser = Client()
    page = "/myadmin/dflock/status/"
    anonymous = browser.get(page)
    assert anonymous.status_code == 302 and "/myadmin/login/" in anonymous["Location"]

    browser.force_login(User.objects.create_user("clerk", is_staff=False))
    assert browser.get(page).status_code == 302  # not staff: sent to the login too

    browser.force_login(User.objects.create_user("ops", is_staff=True))
    with lock("invoice:7"):
        shown = browser.get(page + "?refresh=5")
    assert shown.status_code == 200, shown.status_code
    html = shown.content.decode()
    assert os.environ["DFLOCK_KEY_PREFIX"] + "invoice:7" in html, html[:2000]
    assert 'http-equiv="refresh"' in html and 'content="5"' in html, html[:2000]
    assert page in browser.get("/myadmin/").content.decode()  # linked from the index
    print("ok")
