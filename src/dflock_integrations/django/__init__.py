"""Django integration: settings, checks, view decorators, a CBV mixin, middleware,
locks for any code, management commands and an admin status page.

    INSTALLED_APPS = [..., "dflock_integrations.django"]
    DFLOCK = {"SERVERS": "127.0.0.1:6388", "KEY_PREFIX": "shop."}

See docs/django.md.
"""

from __future__ import annotations

# The framework, or an ImportError naming the extra to install.
from dflock_integrations._extras import django  # noqa: F401
from dflock_integrations._http.answers import HttpAnswer
from dflock_integrations._http.rules import Rule
from dflock_integrations.django._holding import json_response
from dflock_integrations.django.clients import close_clients, get_async_client, get_client
from dflock_integrations.django.conf import get_settings
from dflock_integrations.django.decorators import (
    dflock_lock,
    dflock_multilock,
    dflock_rate_limit,
    dflock_semaphore,
)
from dflock_integrations.django.locks import aemit, alock, asemaphore, emit, lock, semaphore
from dflock_integrations.django.middleware import DflockMiddleware
from dflock_integrations.django.mixins import DflockLockMixin

__all__ = [
    "DflockLockMixin",
    "DflockMiddleware",
    "HttpAnswer",
    "Rule",
    "aemit",
    "alock",
    "asemaphore",
    "close_clients",
    "dflock_lock",
    "dflock_multilock",
    "dflock_rate_limit",
    "dflock_semaphore",
    "emit",
    "get_async_client",
    "get_client",
    "get_settings",
    "json_response",
    "lock",
    "semaphore",
]
