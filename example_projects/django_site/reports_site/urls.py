from django.contrib import admin
from django.urls import path

urlpatterns = [
    # The live locks: /admin/dflock/status/ (staff only), linked from the admin index.
    path("admin/", admin.site.urls),
]
