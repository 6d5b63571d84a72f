"""The Django app: `"dflock_integrations.django"` in INSTALLED_APPS, label `dflock`."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class DflockConfig(AppConfig):
    name = "dflock_integrations.django"
    label = "dflock"
    verbose_name = "dflock"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from dflock_integrations.django import conf
        from dflock_integrations.django.checks import check_settings, check_urls

        checks.register(check_settings)
        checks.register(check_urls, checks.Tags.urls)
        # Here, not only in the checks: gunicorn and uvicorn run no checks, and a bad
        # setting would then be a 500 at every locked view. ImproperlyConfigured
        # stops the process with the key at fault and the one it resembles.
        conf.validate()
