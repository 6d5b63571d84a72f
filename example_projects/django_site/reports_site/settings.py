"""Settings of the example back office: the admin plus `dflock_integrations.django`.

DFLOCK is not set here on purpose: every key it leaves out falls back to its DFLOCK_*
variable, so this site reads the same `DFLOCK_SERVERS` and `DFLOCK_KEY_PREFIX` as the
web app and the worker, and its status page and `manage.py dflock_stats` show their
locks. (Without DFLOCK_SERVERS, `manage.py check` warns dflock.W003 and 127.0.0.1:6388
is used.)
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# An example: never run this key, or DEBUG, in production.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "reports-example-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "dflock_integrations.django",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "reports_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

WSGI_APPLICATION = "reports_site.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("REPORTS_SITE_DB") or BASE_DIR / "db.sqlite3",
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
