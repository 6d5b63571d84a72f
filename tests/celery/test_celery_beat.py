"""The beat scheduler in this process: ticked by the test, sending to the session's broker.

Real parts: a dflock server, the broker, and the messages beat publishes (read back by
`Sent`). The processes-and-failover story is in test_celery_beat_failover.py.
"""

import time
from datetime import timedelta

import pytest
from celery import Celery
from celery.beat import PersistentScheduler

from dflock_integrations.celery.beat import DflockScheduler, beat_settings
from dflock_integrations.errors import ConfigurationError

from helpers import eventually_sync

LEASE_S = 5


def make_app(celery_conf, queue, settings, schedule, **dflock):
    app = Celery("inproc", set_as_current=False)
    app.conf.update({**celery_conf, "task_default_queue": queue})
    app.conf.dflock = {
        "servers": [str(s) for s in settings.servers],
        "key_prefix": settings.key_prefix,
        "connect_timeout_s": 2,
        **dflock,
    }
    app.conf.beat_schedule = schedule
    app.conf.dflock_beat_lease_ttl_s = LEASE_S
    return app


EVERY_SECOND = {"every-second": {"task": "inproc.slot", "schedule": 1.0}}


@pytest.fixture
def scheduler_for(tmp_path):
    made = []

    def make(app, cls=DflockScheduler, name="schedule"):
        scheduler = cls(app=app, schedule_filename=str(tmp_path / name), max_interval=1)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.close()


def run_until(scheduler, condition, *, timeout_s, what):
    """Tick as `celery beat` does (sleeping what tick asks, at most 0.1 s) until `condition`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(max(0.0, min(scheduler.tick(), 0.1)))


def run_for(scheduler, seconds):
    """Tick for a bounded time: to show that something does *not* happen."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(max(0.0, min(scheduler.tick(), 0.1)))


def waiters(client, key):
    entry = client.stats().find(client.settings.key_prefix + key)
    return entry["waiters"] if entry else 0


def test_only_the_lease_holder_sends(celery_conf, queue, sent, dflock_client, scheduler_for):
    app = make_app(celery_conf, queue, dflock_client.settings, EVERY_SECOND)
    scheduler = scheduler_for(app)
    with dflock_client.lock("celery-beat:inproc"):  # another beat leads
        scheduler.tick()
        eventually_sync(
            lambda: waiters(dflock_client, "celery-beat:inproc") == 1,
            what="the scheduler to wait in the key's queue",
        )
        run_for(scheduler, 1.5)
        assert sent.records == []
        assert not scheduler.dflock_leading()
    run_until(scheduler, lambda: len(sent.records) >= 2, timeout_s=5, what="two sends")
    assert scheduler.dflock_leading()
    first, second = (at for at, _, _ in sent.records[:2])
    assert 0.5 < second - first < 1.5


def test_a_new_leader_does_not_make_up_runs_it_missed(
    celery_conf, queue, sent, dflock_client, scheduler_for
):
    schedule = {
        **EVERY_SECOND,
        "ten-minutes": {"task": "inproc.rare", "schedule": timedelta(minutes=10)},
    }
    app = make_app(celery_conf, queue, dflock_client.settings, schedule)
    for name in ("plain", "dflock"):  # both files say "ten-minutes" last ran an hour ago
        setup = scheduler_for(app, PersistentScheduler, name)
        for entry in setup.schedule.values():
            entry.last_run_at = app.now() - timedelta(hours=1)
        setup.close()

    plain = scheduler_for(app, PersistentScheduler, "plain")
    started = time.monotonic()  # Celery makes the missed run up at once:
    run_until(
        plain,
        lambda: "inproc.rare" in {task for _, _, task in sent.records},
        timeout_s=5,
        what="the plain scheduler to send the missed run",
    )
    made_up = time.monotonic()
    assert made_up - started < 1.5
    plain.close()
    sent.records.clear()

    scheduler = scheduler_for(app, DflockScheduler, "dflock")
    run_until(scheduler, lambda: len(sent.records) >= 2, timeout_s=5, what="two sends")
    tasks = [task for _, _, task in sent.records]
    assert tasks == ["inproc.slot", "inproc.slot"]  # what fell due before it led is not sent


def test_a_leader_stops_at_once_when_its_server_goes_and_leads_again_when_back(
    celery_conf, queue, sent, dflock_server_process, scheduler_for
):
    from dflock_integrations.testing.pytest_plugin import settings_for

    server = dflock_server_process()
    app = make_app(celery_conf, queue, settings_for(server, key_prefix="gone."), EVERY_SECOND)
    scheduler = scheduler_for(app)
    run_until(scheduler, lambda: sent.records, timeout_s=5, what="the first send")

    server.kill()  # the lease's connection closes: lost at once
    eventually_sync(lambda: not scheduler.dflock_leading(), timeout_s=1, what="the loss noticed")
    before = len(sent.records)
    run_for(scheduler, 2)
    assert len(sent.records) == before  # nothing sent without the lease

    server.start()  # same port
    run_until(scheduler, lambda: len(sent.records) > before, timeout_s=15, what="sends to resume")
    assert scheduler._dflock._term == 2  # a second lease, a new start


def test_closing_a_standby_leaves_the_queue_at_once(
    celery_conf, queue, dflock_client, scheduler_for
):
    app = make_app(celery_conf, queue, dflock_client.settings, EVERY_SECOND)
    scheduler = scheduler_for(app)
    with dflock_client.lock("celery-beat:inproc"):
        scheduler.tick()
        eventually_sync(lambda: waiters(dflock_client, "celery-beat:inproc") == 1, what="queued")
        started = time.monotonic()
        scheduler.close()
        assert time.monotonic() - started < 1
        eventually_sync(
            lambda: waiters(dflock_client, "celery-beat:inproc") == 0,
            timeout_s=2,
            what="the standby to leave the queue",
        )


def test_the_lease_carries_one_metric_name_whatever_the_app(
    celery_conf, queue, sent, dflock_client, scheduler_for
):
    prometheus_client = pytest.importorskip("prometheus_client")
    app = make_app(celery_conf, queue, dflock_client.settings, EVERY_SECOND, metrics="prometheus")
    scheduler = scheduler_for(app)
    run_until(scheduler, scheduler.dflock_leading, timeout_s=5, what="the lease")
    names = {
        sample.labels.get("name")
        for metric in prometheus_client.REGISTRY.collect()
        if metric.name.startswith("dflock_")
        for sample in metric.samples
    }
    assert "celery-beat:{app}" in names
    assert not any(name and "inproc" in name for name in names)  # never the app's own key


def test_beat_settings_that_cannot_work_name_the_setting(celery_conf, queue, dflock_settings):
    app = make_app(celery_conf, queue, dflock_settings, EVERY_SECOND)
    settings, key, lease = beat_settings(app)
    assert (key, lease) == ("celery-beat:inproc", LEASE_S)
    app.conf.dflock_beat_lease_ttl_s = 0
    with pytest.raises(ConfigurationError, match=r"app\.conf\.dflock_beat_lease_ttl_s"):
        beat_settings(app)
    app.conf.dflock_beat_lease_ttl_s = None  # falls back to the client's lease
    assert beat_settings(app)[2] == settings.lease_ttl_s
    app.conf.dflock_beat_key = "two words"
    with pytest.raises(ConfigurationError, match=r"app\.conf\.dflock_beat_key"):
        beat_settings(app)
