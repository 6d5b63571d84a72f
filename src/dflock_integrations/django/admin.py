"""The status page in the admin: staff only, read only, linked from the admin index.

It is registered on `admin.site`. For a custom site: `my_site.register(Status, StatusAdmin)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from dflock_integrations.django import views
from dflock_integrations.django.models import Status

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Status]
else:  # ModelAdmin is generic only in django-stubs
    _ModelAdmin = admin.ModelAdmin


@admin.register(Status)
class StatusAdmin(_ModelAdmin):
    """The model's changelist is the status page; there is nothing to add or change."""

    def _is_staff(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and getattr(user, "is_staff", False))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._is_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Status | None = None) -> bool:
        return self._is_staff(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Status | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Status | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("json/", view(self.status_json_view), name=f"{name}_json"),
            path("", view(self.status_view), name=f"{name}_changelist"),
        ]

    def status_view(self, request: HttpRequest) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Lock server status",
        }
        return views.status(request, context)

    def status_json_view(self, request: HttpRequest) -> JsonResponse:
        return views.status_json(request)
