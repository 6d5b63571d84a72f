"""Django settings for beats on django-celery-beat's DatabaseScheduler (a SQLite file)."""

import os

SECRET_KEY = "beat-tests"
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_celery_beat"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["BEAT_DATABASE"],
        # Two beats write their last-run times to one file.
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
