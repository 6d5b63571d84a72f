"""URLs of the django-health-check view with the dflock check (test_django_health.py)."""

from django.urls import path
from health_check.views import HealthCheckView

urlpatterns = [
    path("health/", HealthCheckView.as_view(checks=["dflock_integrations.django.health.Dflock"])),
    path(
        "health-fast/",
        HealthCheckView.as_view(
            checks=[("dflock_integrations.django.health.Dflock", {"timeout_s": 0.4})]
        ),
    ),
]
