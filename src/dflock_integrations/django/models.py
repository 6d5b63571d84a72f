"""No tables: one unmanaged model, so the admin index links to the status page."""

from __future__ import annotations

from django.db import models


class Status(models.Model):
    """Stands for the lock servers' live state; it has no table and no rows."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "lock server status"
        verbose_name_plural = "lock server status"
