"""`DflockDatabaseScheduler`: django-celery-beat's `DatabaseScheduler`, one beat at a time.

Imported by `dflock_integrations.celery.beat` only when named, since django-celery-beat
needs Django set up (`celery -A proj beat` does that through Celery's Django fix-up).
"""

from __future__ import annotations

try:
    from django_celery_beat.schedulers import DatabaseScheduler
except ImportError as exc:
    if exc.name is None or not exc.name.startswith("django_celery_beat"):
        raise
    raise ImportError(
        "DflockDatabaseScheduler needs django-celery-beat: pip install django-celery-beat"
    ) from None

from dflock_integrations.celery.beat import DflockSchedulerMixin


class DflockDatabaseScheduler(DflockSchedulerMixin, DatabaseScheduler):  # type: ignore[misc]
    """Schedules from the database (editable in the admin); only the lease holder sends.

    Entries count as run when this beat takes the lease, in memory only: the database
    keeps the times tasks were really sent.
    """
