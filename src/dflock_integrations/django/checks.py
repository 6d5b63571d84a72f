"""System checks (`manage.py check`), registered by the app's `ready()`.

| id          | what                                                                      |
|-------------|---------------------------------------------------------------------------|
| dflock.E001 | a value in DFLOCK (or a DFLOCK_* variable) is invalid; one per value      |
| dflock.E002 | DFLOCK has a key dflock does not know (a typo)                            |
| dflock.E003 | DFLOCK["RULES"] holds a rule that cannot work                             |
| dflock.E004 | a locked view's key uses a name its URL pattern does not capture          |
| dflock.W001 | an auth token goes without TLS to a server that is not on this machine    |
| dflock.W002 | a lease leaves too little time to renew it                                |
| dflock.W003 | DFLOCK is not set and no DFLOCK_SERVERS variable: 127.0.0.1:6388 is used  |
| dflock.W004 | KEY_PREFIX does not end with a separator, so keys run into it             |
| dflock.W005 | DFLOCK["RULES"] is set but DflockMiddleware is not in MIDDLEWARE          |
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.module_loading import import_string

from dflock_integrations.django import conf
from dflock_integrations.errors import ConfigurationError
from dflock_integrations.settings import DflockSettings

# Between a renewal and the end of the lease: less than this, and a GC pause or a
# slow network loses the lease.
MIN_RENEW_MARGIN_S = 1.0
_SEPARATORS = frozenset(".:-_/")


def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """E001, E002, E003 and, when the settings are valid, W001 to W005."""
    try:
        raw = conf.raw_setting()
    except ConfigurationError as exc:
        return [Error(str(exc), id="dflock.E001")]
    messages: list[CheckMessage] = list(_unknown_keys(raw))
    try:
        settings = conf.build_settings(raw, check_unknown=False)
    except ConfigurationError as exc:
        messages.extend(_invalid_values(str(exc)))
    else:
        messages.extend(_warnings(raw, settings))
    try:
        rules = conf.build_rules(raw)
    except ConfigurationError as exc:
        messages.append(Error(str(exc), id="dflock.E003", hint=_RULE_HINT))
    else:
        if rules and not _middleware_installed():
            messages.append(
                Warning(
                    f"{conf.setting_name(conf.RULES_KEY)} is set but DflockMiddleware is not "
                    "in MIDDLEWARE, so no rule applies.",
                    hint="Add 'dflock_integrations.django.middleware.DflockMiddleware' to "
                    "MIDDLEWARE.",
                    id="dflock.W005",
                )
            )
    return messages


_RULE_HINT = (
    'A rule is a dict such as {"path": "/orders/{order_id}/", "key": "order:{order_id}", '
    '"methods": ["POST"]}; add "limit": N for a semaphore, "max_shared": N (and "mode") '
    'for a shared/exclusive multilock, or "rate": "5/s" for a rate limit.'
)


def _unknown_keys(raw: Any) -> Iterator[Error]:
    for key, meant in conf.MAPPING.unknown(raw):
        yield Error(
            f"{conf.setting_name(key)} is not a dflock setting.",
            hint=f'Did you mean "{meant}"?'
            if meant
            else f"Known keys: {', '.join(sorted(conf.KNOWN_KEYS))}.",
            id="dflock.E002",
        )


def _invalid_values(message: str) -> Iterator[Error]:
    # One error per invalid value; the first line only says that some are invalid.
    lines = [line.strip() for line in message.splitlines()[1:] if line.strip()]
    for line in lines or [message]:
        yield Error(line, id="dflock.E001")


def _warnings(raw: Any, settings: DflockSettings) -> Iterator[Warning]:
    if raw is None and "servers" not in settings.model_fields_set:
        yield Warning(
            f"{conf.SETTING} is not set and there is no DFLOCK_SERVERS variable, so dflock "
            f"connects to {settings.servers[0]}.",
            hint=f'Set {conf.SETTING} = {{"SERVERS": "host:port"}} in settings '
            "(or DFLOCK_SERVERS in the environment).",
            id="dflock.W003",
        )
    if (settings.auth_token is not None or settings.auth_token_file is not None) and not (
        settings.tls
    ):
        remote = [str(server) for server in settings.servers if not is_loopback(server.host)]
        if remote:
            yield Warning(
                f"The auth token is sent in clear text to {', '.join(remote)}.",
                hint=f"Set {conf.setting_name('TLS')} = True (and "
                f"{conf.setting_name('TLS_CA_FILE')} for a private CA).",
                id="dflock.W001",
            )
    margin = settings.lease_ttl_s * (1 - settings.renew_ratio)
    if margin < MIN_RENEW_MARGIN_S:
        yield Warning(
            f"A lease of {settings.lease_ttl_s} s renewed after {settings.renew_ratio:g} of it "
            f"leaves {margin:.2g} s for the renewal to arrive; a pause or a slow network loses "
            "the lease.",
            hint=f"Raise {conf.setting_name('LEASE_TTL_S')} or lower "
            f"{conf.setting_name('RENEW_RATIO')}, so that LEASE_TTL_S * (1 - RENEW_RATIO) is "
            f"at least {MIN_RENEW_MARGIN_S:g} s.",
            id="dflock.W002",
        )
    prefix = settings.key_prefix
    if prefix and prefix[-1] not in _SEPARATORS:
        yield Warning(
            f"KEY_PREFIX {prefix!r} does not end with a separator, so key 'x' is sent as "
            f"{prefix + 'x'!r}.",
            hint=f"End it with '.' or ':', e.g. {prefix + '.'!r}.",
            id="dflock.W004",
        )


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _middleware_installed() -> bool:
    from dflock_integrations.django.middleware import DflockMiddleware

    for path in getattr(django_settings, "MIDDLEWARE", None) or ():
        try:
            middleware = import_string(path)
        except ImportError:
            continue  # Django reports a middleware it cannot import
        if isinstance(middleware, type) and issubclass(middleware, DflockMiddleware):
            return True
    return False


def check_urls(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """E004: a locked view whose URL does not capture every name its key needs."""
    if not getattr(django_settings, "ROOT_URLCONF", None):
        return []
    try:
        patterns = get_resolver().url_patterns
    except (ImportError, ImproperlyConfigured):
        return []  # Django's own URL checks report a broken URLconf
    return [
        Error(
            f"{_view_name(pattern)} takes key {template!r}, but URL pattern "
            f"{str(pattern.pattern)!r} does not capture {', '.join(sorted(missing))}.",
            hint="Capture the name in the URL (<int:pk>) or pass it in path(..., kwargs={...}).",
            obj=pattern,
            id="dflock.E004",
        )
        for pattern, captured in _walk(patterns, frozenset())
        for template, fields in _key_fields(pattern)
        if (missing := set(fields) - captured)
    ]


def _walk(
    patterns: Iterable[URLPattern | URLResolver], captured: frozenset[str]
) -> Iterator[tuple[URLPattern, frozenset[str]]]:
    for entry in patterns:
        names = captured | _captured_names(entry)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, names)
        else:
            yield entry, names


def _captured_names(entry: URLPattern | URLResolver) -> frozenset[str]:
    regex = getattr(entry.pattern, "regex", None)
    groups = set(regex.groupindex) if regex is not None else set()
    defaults = entry.default_kwargs if isinstance(entry, URLResolver) else entry.default_args
    return frozenset(groups | set(defaults or ()))


def _key_fields(pattern: URLPattern) -> Iterator[tuple[str, tuple[str, ...]]]:
    from dflock_integrations.django.decorators import HOLD_ATTRIBUTE, HeldView
    from dflock_integrations.django.mixins import DflockLockMixin

    callback = pattern.callback
    held = getattr(callback, HOLD_ATTRIBUTE, None)
    if isinstance(held, HeldView):
        yield held.template.template, held.template.fields
    view_class = getattr(callback, "view_class", None)
    if (
        isinstance(view_class, type)
        and issubclass(view_class, DflockLockMixin)
        and view_class.get_dflock_key is DflockLockMixin.get_dflock_key
        and view_class._dflock_template is not None
    ):
        template = view_class._dflock_template
        yield template.template, template.fields


def _view_name(pattern: URLPattern) -> str:
    callback = pattern.callback
    view_class = getattr(callback, "view_class", None)
    target = view_class if isinstance(view_class, type) else callback
    return f"{target.__module__}.{target.__qualname__}"
