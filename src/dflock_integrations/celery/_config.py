"""The app's dflock settings, and the one client each process shares per app.

Settings are `DflockSettings` from `DFLOCK_*` variables, overridden by
`app.conf.dflock` (a dict of field names, or a `DflockSettings`). Both are read on
first use in a process, never at import, so a worker's prefork children each build
their own client (and connections) after the fork.
"""

from __future__ import annotations

import copy
import os
import sys
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celery import current_app

from dflock_integrations.celery._sender import sender
from dflock_integrations.cli.exit_codes import CONFIG
from dflock_integrations.client import SyncDflockClient
from dflock_integrations.errors import ConfigurationError
from dflock_integrations.settings import DflockSettings, SettingsMapping

CONF_KEY = "dflock"


def conf_name(field: str) -> str:
    """How a field is written in the Celery configuration: `app.conf.dflock["lease_ttl_s"]`."""
    return f'app.conf.{CONF_KEY}["{field}"]'


def raw_conf(app: Any) -> object:
    """`app.conf.dflock` as written (`DFLOCK` in an upper-case config object), or None."""
    conf = app.conf
    raw = conf.get(CONF_KEY)
    return conf.get(CONF_KEY.upper()) if raw is None else raw


MAPPING = SettingsMapping(conf_name)


def build_settings(raw: object) -> DflockSettings:
    """`DflockSettings` from `app.conf.dflock`; errors name the key they came from."""
    if raw is None:
        return DflockSettings()
    if isinstance(raw, DflockSettings):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigurationError(
            f"app.conf.{CONF_KEY} must be a dict such as {{'servers': '127.0.0.1:6388'}} "
            f"or a DflockSettings, got {type(raw).__name__}"
        )
    return MAPPING.settings(raw)


@dataclass(frozen=True, slots=True)
class _Entry:
    source: object  # a copy of app.conf.dflock as the client was built from it
    client: SyncDflockClient


_lock = threading.Lock()
_entries: weakref.WeakKeyDictionary[Any, _Entry] = weakref.WeakKeyDictionary()


def _fresh_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # it may have been held by a parent thread at the fork


os.register_at_fork(after_in_child=_fresh_lock_in_child)


def _app_or_current(app: Any) -> Any:
    return current_app._get_current_object() if app is None else app


def get_settings(app: Any = None) -> DflockSettings:
    """The `DflockSettings` in force for `app` (default: the current Celery app)."""
    return get_client(app).settings


def get_client(app: Any = None) -> SyncDflockClient:
    """This process's `SyncDflockClient` for `app` (default: the current Celery app).

    Built on first use from the environment and `app.conf.dflock`, and rebuilt when
    `app.conf.dflock` changes. Thread-safe and fork-safe: a prefork child opens its own
    connections on first use. Tasks may use it for their own locks and signals.
    """
    app = _app_or_current(app)
    raw = raw_conf(app)
    entry = _entries.get(app)
    if entry is not None and entry.source == raw:
        return entry.client
    with _lock:
        entry = _entries.get(app)
        if entry is not None and entry.source == raw:
            return entry.client
        fresh = SyncDflockClient(build_settings(raw))
        _entries[app] = _Entry(copy.deepcopy(raw), fresh)
    if entry is not None:
        _retire(entry.client)
    return fresh


def check_settings_at_worker_start(sender: Any = None, **_: Any) -> None:
    """`worker_init`: refuse to start a worker whose dflock settings cannot work.

    Otherwise the first decorated task would fail at run time with the same error.
    Celery logs and swallows exceptions from signal receivers, so this leaves through
    SystemExit, which the worker does not catch, with the message on stderr.
    """
    app = getattr(sender, "app", None)
    if app is None:
        return
    try:
        build_settings(raw_conf(app))
    except ConfigurationError as exc:
        print(f"dflock: the worker cannot start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(CONFIG) from None


def close_clients() -> None:
    """Close every client this process built (idle connections and helper threads)."""
    with _lock:
        entries = list(_entries.values())
        _entries.clear()
    for entry in entries:
        _retire(entry.client)


def _retire(client: SyncDflockClient) -> None:
    # Signals queued for this client go out before it closes; a client closed under
    # an emit in flight would leave the sender thread waiting for an answer forever.
    sender.flush()
    client.close()
