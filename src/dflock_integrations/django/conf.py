"""`DFLOCK = {...}` in Django settings, read lazily so `override_settings` works.

Keys are `DflockSettings` field names in upper case (`SERVERS`, `AUTH_TOKEN`,
`LEASE_TTL_S`, ...) plus `RULES` for `DflockMiddleware`. A key given here wins
over its `DFLOCK_*` environment variable; a key left out falls back to it. A key
that is none of these is an error naming the key it resembles: the app checks the
whole setting in `ready()`, so a typo stops every process, not just `manage.py check`.

Nothing is copied at import time: every access compares the current setting with
the one the cached value was built from, and rebuilds when they differ.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

from dflock_integrations._http.rules import Rule, coerce_rules
from dflock_integrations.errors import ConfigurationError
from dflock_integrations.settings import DflockSettings, SettingsMapping

T = TypeVar("T")

SETTING = "DFLOCK"
RULES_KEY = "RULES"


def setting_name(key: str) -> str:
    """How a key is written in Django settings: `DFLOCK["LEASE_TTL_S"]`."""
    return f'{SETTING}["{key}"]'


MAPPING = SettingsMapping(setting_name, upper_case=True, other_keys=(RULES_KEY,))
KNOWN_KEYS = frozenset(MAPPING.known_keys())


# Its locals hold DFLOCK as written, AUTH_TOKEN included: keep them out of error reports.
@sensitive_variables()
def raw_setting() -> Mapping[str, Any] | None:
    """`settings.DFLOCK` as written, or None when the project does not set it.

    Raises ConfigurationError when it is set to something other than a dict.
    """
    raw = getattr(django_settings, SETTING, None)
    if raw is None or isinstance(raw, Mapping):
        return raw
    raise ConfigurationError(
        f"{SETTING} must be a dict such as {{'SERVERS': '127.0.0.1:6388'}}, "
        f"got {type(raw).__name__}"
    )


# Its locals hold DFLOCK as written, AUTH_TOKEN included: keep them out of error reports.
@sensitive_variables()
def build_settings(raw: Mapping[str, Any] | None, *, check_unknown: bool = True) -> DflockSettings:
    """`DflockSettings` from a `DFLOCK` dict; errors name the Django key they came from,
    and the key an unknown one resembles. `check_unknown=False` leaves unknown keys out
    (the system checks report those apart)."""
    try:
        return MAPPING.settings(raw, check_unknown=check_unknown)
    except ConfigurationError as exc:
        # Raised anew here, so a traceback ends in this frame, whose locals Django hides.
        raise type(exc)(str(exc)) from None


def build_rules(raw: Mapping[str, Any] | None) -> tuple[Rule, ...]:
    """`DFLOCK["RULES"]` as validated `Rule` objects; errors name the rule's index."""
    rules = (raw or {}).get(RULES_KEY, ())
    name = setting_name(RULES_KEY)
    if isinstance(rules, str | bytes | Mapping) or not hasattr(rules, "__iter__"):
        raise ConfigurationError(f"{name} must be a list of rules, got {type(rules).__name__}")
    checked: list[Rule] = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, Rule | Mapping):
            raise ConfigurationError(
                f"{name}[{index}] must be a dict such as "
                f"{{'path': '/orders/{{id}}/', 'key': 'order:{{id}}'}}, got {type(rule).__name__}"
            )
        try:
            checked.extend(coerce_rules([rule if isinstance(rule, Rule) else dict(rule)]))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{name}[{index}]: {exc}") from None
    return tuple(checked)


class _Cached(Generic[T]):
    """A value derived from `settings.DFLOCK`, rebuilt when the setting changes."""

    def __init__(self, build: Callable[[Mapping[str, Any] | None], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        # (the setting it was built from, the value): one attribute, so a reader never
        # pairs one build's source with another build's value.
        self._entry: tuple[Any, T] | None = None

    @sensitive_variables()  # holds DFLOCK as written, AUTH_TOKEN included
    def get(self) -> T:
        raw = raw_setting()
        entry = self._entry
        if entry is not None and entry[0] == raw:
            return entry[1]
        with self._lock:
            entry = self._entry
            if entry is None or entry[0] != raw:
                entry = self._entry = (copy.deepcopy(raw), self._build(raw))
            return entry[1]

    def clear(self) -> None:
        with self._lock:
            self._entry = None


_settings = _Cached(build_settings)
_rules = _Cached(build_rules)


def get_settings() -> DflockSettings:
    """The `DflockSettings` that the current Django settings describe."""
    return _settings.get()


def get_rules() -> tuple[Rule, ...]:
    """The middleware rules from `DFLOCK["RULES"]` (empty when not set)."""
    return _rules.get()


def validate() -> None:
    """Build the settings and the rules now; ImproperlyConfigured naming the key at fault.

    Called from the app's `ready()`: Django runs no system checks under gunicorn or
    uvicorn, and a typo would otherwise surface as a 500 at the first locked view.
    """
    try:
        get_settings()
        get_rules()
    except ConfigurationError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def clear_cache() -> None:
    """Forget derived values, e.g. after `DFLOCK_*` environment variables changed."""
    _settings.clear()
    _rules.clear()
