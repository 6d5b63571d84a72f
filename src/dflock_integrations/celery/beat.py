"""One `celery beat` at a time: only the process holding a dflock lease sends the schedule.

    celery -A proj beat -S dflock_integrations.celery.beat:DflockScheduler
    celery -A proj beat -S dflock_integrations.celery.beat:DflockDatabaseScheduler

Run as many beats as you like; they wait for the lease on `app.conf.dflock_beat_key`
(`celery-beat:{app.main}`) in FIFO order and only its holder sends due tasks. The
holder checks its lease before every send, so a beat that lost it (frozen longer
than the lease, cut off from the server) stops at once. A beat that takes over
counts every entry as run at that moment: it neither repeats what the last leader
sent nor fires everything that fell due while nobody led. See docs/operations.md.

`DflockSchedulerMixin` does it for any scheduler class:
`class MyScheduler(DflockSchedulerMixin, SomeScheduler)`.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from celery.beat import PersistentScheduler
from celery.utils.time import maybe_make_aware

from dflock_integrations.celery._config import build_settings, raw_conf
from dflock_integrations.celery._leadership import Leadership
from dflock_integrations.cli.exit_codes import CONFIG
from dflock_integrations.errors import ConfigurationError, InvalidKeyError
from dflock_integrations.keys import check_key

if TYPE_CHECKING:
    from dflock_integrations.settings import DflockSettings

log = logging.getLogger("dflock_integrations.celery.beat")

KEY_SETTING = "dflock_beat_key"
LEASE_SETTING = "dflock_beat_lease_ttl_s"
# The metric name of every beat's lease, whatever the app: one label, not one per app.
METRIC_LABEL = "celery-beat:{app}"

# DflockDatabaseScheduler too, imported when named (it needs Django set up).
__all__ = [
    "DflockScheduler",
    "DflockSchedulerMixin",
    "beat_settings",
]


def beat_settings(app: Any) -> tuple[DflockSettings, str, int]:
    """The client settings, the key and the lease of `app`'s beats; ConfigurationError
    naming the setting when one cannot work."""
    settings = build_settings(raw_conf(app))
    key = app.conf.get(KEY_SETTING) or f"celery-beat:{app.main or 'celery'}"
    try:
        check_key(key, what="beat key")
    except InvalidKeyError as exc:
        raise ConfigurationError(f"app.conf.{KEY_SETTING}: {exc}") from None
    lease = app.conf.get(LEASE_SETTING)
    if lease is None:
        lease = settings.lease_ttl_s
    if isinstance(lease, bool) or not isinstance(lease, int) or not 1 <= lease <= 86_400:
        raise ConfigurationError(
            f"app.conf.{LEASE_SETTING} must be a whole number of seconds from 1 to 86400, "
            f"got {lease!r}"
        )
    return settings, key, lease


class DflockSchedulerMixin:
    """Sends due tasks only while this process holds the beat lease (put it first)."""

    #: How often a standby looks whether it leads now (seconds).
    dflock_standby_tick_s = 0.5

    _dflock: Leadership | None = None
    _dflock_config: tuple[DflockSettings, str, int] | None = None
    _dflock_term: int | None = None
    _dflock_since: datetime | None = None

    app: Any
    max_interval: float
    _heap: Any

    def setup_schedule(self) -> None:
        # Settings that cannot work stop beat now, not at its first tick.
        try:
            self._dflock_config = beat_settings(self.app)
        except ConfigurationError as exc:
            print(f"dflock: beat cannot start: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(CONFIG) from None
        super().setup_schedule()  # type: ignore[misc]

    def dflock_leading(self) -> bool:
        """Whether this beat holds the lease now (with time to spare)."""
        leadership = self._dflock
        return leadership is not None and leadership.leading() is not None

    def tick(self, *args: Any, **kwargs: Any) -> float:
        term = self._leadership().leading()
        if term is None:
            return min(self.max_interval, self.dflock_standby_tick_s)
        if term != self._dflock_term:
            self._dflock_term = term
            self._dflock_since = datetime.now(timezone.utc)
            self._heap = None  # rebuilt at once by populate_heap, from the new start
        interval: float = super().tick(*args, **kwargs)  # type: ignore[misc]
        return interval

    def populate_heap(self, *args: Any, **kwargs: Any) -> None:
        # Whatever an entry says it last ran (this beat's own file, a database another
        # beat wrote), it counts as run no earlier than the moment this beat took the
        # lease: nothing the last leader may have sent is sent again.
        since = self._dflock_since
        if since is not None:
            for entry in self.schedule.values():  # type: ignore[attr-defined]
                _not_before(entry, since)
        super().populate_heap(*args, **kwargs)  # type: ignore[misc]

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        leadership = self._dflock
        if leadership is None or leadership.leading() != self._dflock_term:
            log.warning("dflock: %s not sent: this beat no longer holds its lease", entry.name)
            return
        super().apply_entry(entry, producer=producer)  # type: ignore[misc]

    def close(self) -> None:
        # First the lease, so the next beat in line takes over at once.
        leadership, self._dflock = self._dflock, None
        if leadership is not None:
            leadership.stop()
        super().close()  # type: ignore[misc]

    @property
    def info(self) -> str:
        own: str = super().info  # type: ignore[misc]
        try:
            _, key, lease = beat_settings(self.app)
        except ConfigurationError as exc:
            return f"{own}\n    . dflock -> settings cannot work: {exc}".lstrip("\n")
        return f"{own}\n    . dflock -> {key} (lease {lease} s)".lstrip("\n")

    def _leadership(self) -> Leadership:
        if self._dflock is None:
            settings, key, lease = self._dflock_config or beat_settings(self.app)
            self._dflock = Leadership(settings, key, lease_ttl_s=lease, label=METRIC_LABEL)
            self._dflock.start()
        return self._dflock


def _not_before(entry: Any, since: datetime) -> None:
    """Move `entry`'s last run up to `since`, in the form its own clock uses (aware or not)."""
    last = entry.last_run_at
    if last is not None and maybe_make_aware(last) >= since:
        return
    now = entry._default_now()  # ScheduleEntry's and django-celery-beat's own clock
    entry.last_run_at = now - (maybe_make_aware(now) - since)


class DflockScheduler(DflockSchedulerMixin, PersistentScheduler):  # type: ignore[misc]
    """Celery's default scheduler (a schedule file per beat), one beat at a time."""


def __getattr__(name: str) -> Any:
    # django-celery-beat's scheduler needs Django set up: imported only when named.
    if name == "DflockDatabaseScheduler":
        from dflock_integrations.celery._beat_database import DflockDatabaseScheduler

        return DflockDatabaseScheduler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
