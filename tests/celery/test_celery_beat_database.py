"""Two beats on django-celery-beat's DatabaseScheduler, one SQLite database: one sends.

The leader is killed with SIGKILL; the standby takes over without sending again what
the database says was sent, and the database keeps the real run count.
"""

import itertools
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from beats import DATABASE_SCHEDULER, HERE, Beat, Sent, beat_env
from helpers import eventually_sync

pytest.importorskip("django_celery_beat")

LEASE_S = 5
PERIOD_S = 1.0
TAKEOVER_S = LEASE_S + 2


def test_database_scheduler_one_beat_at_a_time(
    celery_conf, queue, dflock_server, dflock_client, tmp_path
):
    database = tmp_path / "beat.sqlite3"
    env = beat_env(
        {**celery_conf, "task_default_queue": queue},
        servers=dflock_server.address,
        key_prefix=dflock_client.settings.key_prefix,
        lease_s=LEASE_S,
        DJANGO_SETTINGS_MODULE="beat_site",
        BEAT_DATABASE=str(database),
    )
    migrate = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    sent = Sent({**celery_conf, "task_default_queue": queue}, queue)
    a = b = None
    try:
        a = Beat("db-a", tmp_path, env, scheduler=DATABASE_SCHEDULER)
        eventually_sync(lambda: sent.by(a.pid), timeout_s=30, what="the first leader's send")
        b = Beat("db-b", tmp_path, env, scheduler=DATABASE_SCHEDULER)
        key = dflock_client.settings.key_prefix + "celery-beat:beat_app"
        eventually_sync(
            lambda: (dflock_client.stats().find(key) or {}).get("waiters") == 1,
            timeout_s=30,
            what="b queued",
        )
        eventually_sync(lambda: len(sent.by(a.pid)) >= 5, timeout_s=15, what="a few sends")
        killed_at = time.monotonic()
        a.kill()
        eventually_sync(
            lambda: len([t for t in sent.by(b.pid) if t > killed_at]) >= 5,
            timeout_s=30,
            what=f"b's sends after the kill:\n{b.log_tail()}",
        )
        assert b.signal(signal.SIGTERM) < 3
    finally:
        for beat in (a, b):
            if beat is not None:
                beat.stop()
        sent.close()

    times = [at for at, _, _ in sent.records]
    senders = [pid for pid, _ in itertools.groupby(pid for _, pid, _ in sent.records)]
    assert senders == [a.pid, b.pid]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) > PERIOD_S / 2
    assert sent.by(b.pid)[0] - killed_at <= TAKEOVER_S + PERIOD_S
    with sqlite3.connect(database) as db:
        (runs,) = db.execute(
            "SELECT total_run_count FROM django_celery_beat_periodictask WHERE name = ?",
            ("every-second",),
        ).fetchone()
    assert 1 <= runs <= len(times)  # what b wrote at its shutdown; a was killed unsynced
    assert "Traceback" not in b.log.read_text()
