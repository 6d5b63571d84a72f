"""Decorated tasks run in this process: eager mode, direct calls, a traced worker run.

Each test builds its own app, configured through `app.conf.dflock` for the session
server with a key prefix of the test's own; `dflock_client` shares that prefix.
"""

import logging
import threading
import time
import uuid

import pytest
from celery.app.base import Celery
from celery.app.trace import build_tracer
from celery.signals import after_task_publish, task_retry

from dflock_integrations.celery import (
    close_clients,
    current_lease,
    current_leases,
    dflock_semaphore,
    flush_outcome_signals,
    get_client,
    install_outcome_signals,
    is_skipped,
    single_instance,
)
from dflock_integrations.errors import LockLostError, LockTimeout, ServerUnavailable
from dflock_integrations.testing.filesystem_broker import filesystem_broker
from dflock_integrations.testing.pytest_plugin import settings_for

from helpers import eventually_sync


def make_app(dflock, **conf):
    app = Celery(f"eager{uuid.uuid4().hex[:6]}", set_as_current=False)
    app.conf.update(
        {
            "task_always_eager": True,
            "task_eager_propagates": False,  # retries run eagerly; failures come from .get()
            "broker_url": "memory://",
            "dflock": dflock,
            **conf,
        }
    )
    return app


@pytest.fixture
def app(dflock_settings):
    app = make_app(dflock_settings)
    yield app
    close_clients()


@pytest.fixture
def heard(dflock_client):
    """Outcome signals of this test's tasks, as (channel, payload) pairs."""
    with dflock_client.listen("celery.>") as sub:

        def take(count=1, timeout_s=5.0):
            got = []
            deadline = time.monotonic() + timeout_s
            while len(got) < count and (left := deadline - time.monotonic()) > 0:
                sig = sub.get(timeout_s=left)
                if sig is not None:
                    got.append((sig.channel, sig.json()))
            assert len(got) == count, f"heard {got}, expected {count} signals"
            return got

        yield take


def holder_of(client, key):
    return client.stats().find(client.settings.key_prefix + key)


def test_lock_is_held_while_the_body_runs_and_only_then(app, dflock_client, heard):
    @app.task(bind=True)
    @single_instance("report:{report_id}")
    def build(self, report_id):
        lease = current_lease()
        return {
            "held": holder_of(dflock_client, f"report:{report_id}") is not None,
            "key": lease.key,
            "fence": lease.fence,
            "task_id": self.request.id,
        }

    result = build.delay(7).get()
    assert result["held"]
    assert result["key"] == dflock_client.settings.key_prefix + "report:7"
    assert isinstance(result["fence"], int)
    assert holder_of(dflock_client, "report:7") is None
    [(channel, body)] = heard()
    assert channel == "celery.succeeded." + build.name
    assert body["task_id"] == result["task_id"]
    assert body["keys"] == ["report:7"]


def test_template_is_filled_from_bound_arguments(app, dflock_client):
    @app.task
    @single_instance("{region}:{order_id}:{mode}:{note}")
    def ship(order_id, region="eu", *, mode, **extra):
        return current_lease().name

    assert ship.delay(5, mode="air", note="fragile box").get() == "eu:5:air:fragile%20box"
    assert ship.delay(order_id=6, region="us", mode="sea", note="x").get() == "us:6:sea:x"


def test_default_key_is_the_task_name_and_a_function_may_build_it(app):
    @app.task
    @single_instance()
    def nightly():
        return current_lease().name

    @app.task(bind=True)
    @single_instance(lambda account, **_: f"account-{account}")
    def sync_account(self, account, full=False):
        return current_lease().name

    assert nightly.delay().get() == nightly.name
    assert sync_account.delay("a1", full=True).get() == "account-a1"


def test_direct_call_holds_the_lock_too(app, dflock_client):
    @app.task
    @single_instance("direct:{n}")
    def task(n):
        return holder_of(dflock_client, f"direct:{n}") is not None

    assert task(1) is True


def test_task_keeps_its_signature_for_celery_argument_checks(app):
    @app.task(bind=True)
    @single_instance("sig:{a}")
    def task(self, a, b=2):
        return a + b

    with pytest.raises(TypeError):
        task.delay(1, 2, 3)
    assert task.delay(1).get() == 3


def test_a_skipped_run_is_told_apart_from_a_run_that_returned_none(app, dflock_client, heard):
    ran = []

    @app.task
    @single_instance("busy", on_locked="skip")
    def task():
        ran.append(1)  # returns None

    holder = dflock_client.lock("busy")
    assert holder.acquire()
    skipped = task.delay()
    assert skipped.get() == {"dflock": "skipped", "keys": ["busy"]}
    # Confirmed, so the run below (which waits 0 s) never races a release on its way.
    holder.release(wait=True)
    assert ran == []
    assert is_skipped(skipped.get()) and is_skipped(skipped)
    assert skipped.state == "SUCCESS"
    ran_once = task.delay()
    assert ran_once.get() is None and ran == [1]
    assert not is_skipped(ran_once.get()) and not is_skipped(ran_once)
    [(channel, body)] = heard()
    assert channel == "celery.skipped." + task.name
    assert body["outcome"] == "skipped"
    assert body["exception"] is None


def test_raise_fails_with_lock_timeout(app, dflock_client, heard):
    @app.task
    @single_instance("busy", on_locked="raise")
    def task():
        return "ran"

    with dflock_client.lock("busy"), pytest.raises(LockTimeout) as caught:
        task.delay().get()
    assert caught.value.key == "busy"
    assert caught.value.timeout_s == 0
    [(channel, body)] = heard()
    assert channel == "celery.failed." + task.name
    assert body["exception"] == "LockTimeout"


def test_retry_retries_without_holding_then_fails_at_max_retries(app, dflock_client, heard):
    @app.task(max_retries=2)
    @single_instance("busy", on_locked="retry", retry_countdown_s=0)
    def task():
        return "ran"

    with dflock_client.lock("busy"), pytest.raises(LockTimeout):
        task.delay().get()
    assert [(c.split(".")[1], b["retries"]) for c, b in heard(3)] == [
        ("retried", 0),
        ("retried", 1),
        ("failed", 2),
    ]


@pytest.fixture
def countdowns():
    """The countdown of every retry, as Celery's task_retry signal reports it."""
    seen = []

    def record(sender=None, reason=None, **_):
        seen.append(getattr(reason, "when", None))

    task_retry.connect(record, weak=False)
    yield seen
    task_retry.disconnect(record)


def test_retries_back_off_as_celerys_retry_backoff_does(app, dflock_client, countdowns):
    @app.task(max_retries=4)
    @single_instance("busy", on_locked="retry", retry_backoff=True, retry_backoff_max=5)
    def capped():
        return "ran"

    @app.task(max_retries=3)
    @single_instance("busy", on_locked="retry", retry_backoff=2, retry_jitter=False)
    def doubled():
        return "ran"

    with dflock_client.lock("busy"):
        with pytest.raises(LockTimeout):
            capped.delay().get()
        jittered, countdowns[:] = list(countdowns), []
        with pytest.raises(LockTimeout):
            doubled.delay().get()
    # Full jitter (Celery's default): a random whole number of seconds up to 1, 2, 4, 5, 5.
    assert len(jittered) == 4
    assert all(0 <= c <= cap for c, cap in zip(jittered, [1, 2, 4, 5], strict=True))
    assert countdowns == [2, 4, 8]  # factor 2, doubled per retry made


def test_a_tasks_own_retry_backoff_applies_when_the_decorator_leaves_it(
    app, dflock_client, countdowns
):
    @app.task(max_retries=2, retry_backoff=3, retry_jitter=False)
    @single_instance("busy", on_locked="retry")
    def task():
        return "ran"

    @app.task(max_retries=1)
    @single_instance("busy", on_locked="retry", retry_countdown_s=7)
    def fixed():
        return "ran"

    with dflock_client.lock("busy"):
        with pytest.raises(LockTimeout):
            task.delay().get()
        with pytest.raises(LockTimeout):
            fixed.delay().get()
    assert countdowns == [3, 6, 7]  # backoff from the task's options; then a fixed countdown


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"retry_backoff": 0.5}, "retry_backoff"),
        ({"retry_backoff": -1}, "retry_backoff"),
        ({"retry_backoff_max": -1}, "retry_backoff_max"),
        ({"retry_jitter": "yes"}, "retry_jitter"),
    ],
)
def test_bad_backoff_options_fail_at_import(options, words):
    with pytest.raises((ValueError, TypeError), match=words):
        single_instance("k", on_locked="retry", **options)


def test_wait_queues_in_fifo_order_and_runs_when_released(app, dflock_client):
    @app.task
    @single_instance("busy", on_locked="wait", acquire_timeout_s=10)
    def task():
        return current_lease().fence

    lock = dflock_client.lock("busy")
    lock.acquire()
    outcome = []
    runner = threading.Thread(target=lambda: outcome.append(task.delay().get()))
    runner.start()
    eventually_sync(
        lambda: holder_of(dflock_client, "busy")["waiters"] == 1,
        what="the task to queue on the lock",
    )
    assert outcome == []
    held_fence = lock.fence
    lock.release()
    runner.join(10)
    assert outcome and outcome[0] > held_fence


def test_wait_fails_with_lock_timeout_after_its_timeout(app, dflock_client):
    @app.task
    @single_instance("busy", on_locked="wait", acquire_timeout_s=0.2)
    def task():
        return "ran"

    with dflock_client.lock("busy"), pytest.raises(LockTimeout, match=r"within 0\.2 s"):
        task.delay().get()


def test_self_retry_does_not_block_on_its_own_lock(app, heard):
    @app.task(bind=True, max_retries=3)
    @single_instance("flaky", on_locked="raise")
    def task(self):
        if self.request.retries < 2:
            raise self.retry(countdown=0)
        return self.request.retries

    assert task.delay().get() == 2
    assert [c.split(".")[1] for c, _ in heard(3)] == ["retried", "retried", "succeeded"]


def test_stacked_decorators_hold_both_leases(app, dflock_client):
    @app.task
    @dflock_semaphore("renders", limit=2)
    @single_instance("doc:{doc_id}")
    def render(doc_id):
        return [(lease.name, lease.limit) for lease in current_leases()]

    assert render.delay(3).get() == [("renders", 2), ("doc:3", None)]
    assert holder_of(dflock_client, "renders") is None


def test_semaphore_full_retries_and_fails_after_max_retries(app, dflock_client, heard):
    @app.task(max_retries=1)
    @dflock_semaphore("slots", limit=1, acquire_timeout_s=0.1, retry_countdown_s=0)
    def task():
        return "ran"

    with dflock_client.semaphore("slots", limit=1), pytest.raises(LockTimeout) as caught:
        task.delay().get()
    assert caught.value.limit == 1
    assert [c.split(".")[1] for c, _ in heard(2)] == ["retried", "failed"]


def test_semaphore_skip(app, dflock_client):
    @app.task
    @dflock_semaphore("slots", limit=1, on_full="skip", acquire_timeout_s=0)
    def task():
        return "ran"

    assert task.delay().get() == "ran"
    with dflock_client.semaphore("slots", limit=1):
        assert is_skipped(task.delay().get())


def test_failure_in_the_body_releases_and_says_failed(app, dflock_client, heard):
    @app.task
    @single_instance("boom")
    def task():
        raise KeyError("x")

    with pytest.raises(KeyError):
        task.delay().get()
    assert holder_of(dflock_client, "boom") is None
    [(channel, body)] = heard()
    assert channel == "celery.failed." + task.name
    assert body["exception"] == "KeyError"


def test_autoretry_for_is_announced_as_retried_not_failed(app, dflock_client, heard):
    """Celery's autoretry wraps the task from outside: the decorator must see it coming."""
    attempts = []

    @app.task(autoretry_for=(ConnectionError,), max_retries=2, retry_backoff=False)
    @single_instance("flaky-io")
    def task():
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "done"

    assert task.delay().get() == "done"
    assert holder_of(dflock_client, "flaky-io") is None
    outcomes = [(channel.split(".")[1], body["retries"]) for channel, body in heard(3)]
    assert outcomes == [("retried", 0), ("retried", 1), ("succeeded", 2)]


def test_autoretry_out_of_retries_is_a_failure(app, heard):
    @app.task(autoretry_for=(ConnectionError,), max_retries=1, retry_backoff=False)
    @single_instance("always-down")
    def task():
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        task.delay().get()
    assert [channel.split(".")[1] for channel, _ in heard(2)] == ["retried", "failed"]


def test_emit_false_sends_no_outcome(app, dflock_client):
    @app.task
    @single_instance("quiet", emit=False)
    def quiet():
        return "ran"

    @app.task
    @single_instance("loud")
    def loud():
        return "ran"

    with dflock_client.listen("celery.>") as sub:
        quiet.delay()
        loud.delay()
        sig = sub.get(timeout_s=5)
        assert sig is not None
        assert sig.channel == "celery.succeeded." + loud.name


@pytest.mark.dflock_compat("1.10", "2.1")
def test_fences_and_outcomes_on_servers_without_signals(app, dflock_compat, caplog):
    @app.task
    @single_instance("fenced")
    def task():
        return current_lease().fence

    with caplog.at_level(logging.WARNING, "dflock_integrations"):
        fences = [task.delay().get() for _ in range(3)]
        assert flush_outcome_signals()  # each outcome sent or given up: never raised
    if dflock_compat == "1.10":
        assert fences == [None, None, None]  # random tokens carry no fence
    else:
        assert fences == sorted(set(fences))
    assert "outcome signals are off" in caplog.text


@pytest.mark.dflock_compat("1.10", "2.1")
def test_lost_lease_fails_the_task_even_when_the_body_succeeds(dflock_server_factory, caplog):
    server = dflock_server_factory(port=0)
    app = make_app(settings_for(server, key_prefix="lost."))
    stopped = threading.Event()

    @app.task
    @single_instance("lease", lease_ttl_s=1)
    def task():
        lease = current_lease()
        threading.Thread(target=lambda: (server.stop(), stopped.set())).start()
        deadline = time.monotonic() + 10
        while not lease.lost and time.monotonic() < deadline:
            time.sleep(0.01)
        return "body finished"

    try:
        with caplog.at_level(logging.WARNING, "dflock_integrations"):
            with pytest.raises(LockLostError):
                task.delay().get()
            assert flush_outcome_signals()
    finally:
        stopped.wait(10)
        close_clients()
    # The `lost` signal could not reach the stopped server: logged, never raised.
    assert any("celery.lost." + task.name in r.getMessage() for r in caplog.records)


def test_unreachable_server_retries_then_fails(dflock_server_factory):
    server = dflock_server_factory(port=0)
    server.stop()
    app = make_app(settings_for(server, key_prefix="down.", connect_timeout_s=0.5))
    retries = []

    @app.task(max_retries=2)
    @single_instance("down", retry_countdown_s=0)
    def task():
        return "ran"

    def count(sender=None, **_):
        if sender.name == task.name:
            retries.append(1)

    task_retry.connect(count, weak=False)
    try:
        with pytest.raises(ServerUnavailable):
            task.delay().get()
    finally:
        task_retry.disconnect(count)
        close_clients()
    assert len(retries) == 2


def test_retry_gives_the_lock_back_before_publishing(tmp_path, dflock_settings, dflock_client):
    """A worker's retry publishes a message first and raises Retry after: the lock must be
    free by then, or the retry could meet its own task's lock."""
    app = make_app(
        dflock_settings, task_always_eager=False, **filesystem_broker(tmp_path / "broker")
    )

    @app.task(bind=True, ignore_result=True)
    @single_instance("job:{n}", on_locked="raise")
    def job(self, n):
        raise self.retry(countdown=60)

    at_publish = []

    def lock_free_at_publish(headers=None, **_):
        probe = dflock_client.lock("job:1")
        free = probe.acquire(timeout_s=0)
        if free:
            probe.release()
        at_publish.append((headers["id"], headers["retries"], free))

    after_task_publish.connect(lock_free_at_publish, weak=False)
    try:
        # The worker's own code path: a traced, non-eager run that publishes its retry.
        tracer = build_tracer(job.name, job, app=app, eager=False, propagate=False)
        task_id = str(uuid.uuid4())
        tracer(task_id, (1,), {}, {"id": task_id, "retries": 0, "delivery_info": {}})
    finally:
        after_task_publish.disconnect(lock_free_at_publish)
        close_clients()
    assert at_publish == [(task_id, 1, True)]


def test_app_wide_outcome_signals_for_undecorated_tasks(app, dflock_client, heard):
    install_outcome_signals(app)
    install_outcome_signals(app)  # a second call adds nothing

    @app.task
    def ok():
        return 1

    @app.task
    def broken():
        raise ValueError("no")

    @app.task(bind=True, max_retries=1)
    def again(self):
        raise self.retry(countdown=0, exc=OSError("later"))

    @app.task
    @single_instance("decorated")
    def decorated():
        return 1

    ok.delay()
    with pytest.raises(ValueError):
        broken.delay().get()
    with pytest.raises(OSError):
        again.delay().get()
    decorated.delay()
    signals = heard(5)
    assert all(body["runtime_s"] is not None for _, body in signals)
    assert [(c, b["exception"], b["retries"]) for c, b in signals] == [
        ("celery.succeeded." + ok.name, None, 0),
        ("celery.failed." + broken.name, "ValueError", 0),
        ("celery.retried." + again.name, "OSError", 0),
        ("celery.failed." + again.name, "OSError", 1),
        ("celery.succeeded." + decorated.name, None, 0),  # once, from its decorator
    ]


def test_outcome_signals_of_other_apps_stay_off(app, dflock_settings, dflock_client):
    other = make_app(dflock_settings)
    install_outcome_signals(other)

    @app.task
    def mine():
        return 1

    @app.task
    @single_instance("marker")
    def marker():
        return 1

    with dflock_client.listen("celery.>") as sub:
        mine.delay()
        # Signals leave in order (one sender queue): had `mine` announced, it came first.
        marker.delay()
        sig = sub.get(timeout_s=5)
    assert sig is not None
    assert sig.channel == "celery.succeeded." + marker.name


def test_get_client_is_shared_and_follows_the_configuration(app, dflock_settings):
    first = get_client(app)
    assert get_client(app) is first
    app.conf.dflock = {"servers": dflock_settings.servers, "key_prefix": "other."}
    second = get_client(app)
    assert second is not first
    assert second.settings.key_prefix == "other."
