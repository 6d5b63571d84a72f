"""`@dflock_multilock` and `@dflock_rate_limit` in this process: options checked at
import, eager runs against the session server, metric names from the key templates.

The real-worker guarantees (overlap, the rate across four children) are in
test_celery_modes_and_rates_on_a_worker.py.
"""

import time
import uuid

import pytest
from celery.app.base import Celery
from celery.signals import task_retry

from dflock_integrations import LockMode
from dflock_integrations.celery import (
    close_clients,
    current_lease,
    dflock_multilock,
    dflock_rate_limit,
    dflock_semaphore,
    ensure_held,
    is_skipped,
    single_instance,
)
from dflock_integrations.client import SyncMultiLockHandle
from dflock_integrations.errors import LockTimeout, RateLimited


def make_app(dflock):
    app = Celery(f"modes{uuid.uuid4().hex[:6]}", set_as_current=False)
    app.conf.update(
        task_always_eager=True,
        task_eager_propagates=False,
        broker_url="memory://",
        dflock=dflock,
    )
    return app


@pytest.fixture
def app(dflock_settings):
    yield make_app(dflock_settings)
    close_clients()


@pytest.fixture
def brief_app(dflock_settings):
    """An app whose busy keys are waited for half a second (DFLOCK_ACQUIRE_TIMEOUT_S)."""
    yield make_app(dflock_settings.model_copy(update={"acquire_timeout_s": 0.5}))
    close_clients()


@pytest.fixture
def countdowns():
    """The countdown of every retry, as Celery's task_retry signal reports it."""
    seen = []

    def record(sender=None, reason=None, **_):
        seen.append(getattr(reason, "when", None))

    task_retry.connect(record, weak=False)
    yield seen
    task_retry.disconnect(record)


# -- options that cannot work fail at import ---------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"max_shared": 4, "mode": "read"}, r"mode: lock mode 'read': expected LockMode\.SHARED"),
        ({"max_shared": 0, "mode": "shared"}, r"max_shared must be a whole number >= 1"),
        ({"max_shared": True, "mode": "shared"}, r"max_shared .* got True"),
        ({"max_shared": "4", "mode": "exclusive"}, r"max_shared .* got '4'"),
        ({"max_shared": 4, "mode": "shared", "on_busy": "wait"}, r"on_busy must be one of"),
        ({"max_shared": 4, "mode": "shared", "lease_ttl_s": 0}, r"lease_ttl_s"),
        ({"max_shared": 4, "mode": "shared", "lease_tll_s": 5}, r"unknown option 'lease_tll_s'"),
    ],
)
def test_multilock_options_that_cannot_work_fail_at_import(options, words):
    with pytest.raises((ValueError, TypeError), match=r"@dflock_multilock: " + words):
        dflock_multilock("index", **options)


@pytest.mark.parametrize(
    ("rate", "options", "words"),
    [
        ("2 per second", {}, r"rate '2 per second': expected .* '5/s', '100/m', '1000/h'"),
        ("0/s", {}, r"rate '0/s': .* at least 1"),
        (2, {}, r"rate 2: expected COUNT/UNIT"),
        ("2/s", {"on_limited": "later"}, r"on_limited must be one of \('retry', 'wait', 'skip'"),
        ("2/s", {"lease_ttl_s": 5}, r"unknown option 'lease_ttl_s'"),  # a permit has none
        ("2/s", {"acquire_timeout_s": -1}, r"acquire_timeout_s"),
    ],
)
def test_rate_limit_options_that_cannot_work_fail_at_import(rate, options, words):
    with pytest.raises((ValueError, TypeError), match=r"@dflock_rate_limit: " + words):
        dflock_rate_limit("api", rate, **options)


def test_the_modes_may_be_given_by_name_or_as_lock_modes(app):
    for mode in ("shared", "EXCLUSIVE", LockMode.SHARED):
        app.task(dflock_multilock("index", max_shared=2, mode=mode)(lambda: None))


# -- eager runs --------------------------------------------------------------------------------


def test_shared_runs_share_the_key_and_an_exclusive_run_finds_it_busy(brief_app, dflock_client):
    app = brief_app

    @app.task
    @dflock_multilock("index:{name}", max_shared=3, mode="shared")
    def report(name):
        lease = current_lease()
        ensure_held()
        return [type(lease).__name__, lease.mode.value, lease.name]

    @app.task
    @dflock_multilock("index:{name}", max_shared=3, mode=LockMode.EXCLUSIVE, on_busy="skip")
    def rebuild(name):
        return "rebuilt"

    multilock = dflock_client.multilock("index:books", max_shared=3)
    with multilock.shared():  # another process reads the index
        assert report.delay("books").get() == ["SyncMultiLockHandle", "shared", "index:books"]
        started = time.monotonic()
        skipped = rebuild.apply(("books",), {}).get()  # waits its acquire_timeout_s
        assert is_skipped(skipped)
        assert time.monotonic() - started >= 0.45
    assert multilock.mode() is None  # every run gave its hold back
    assert rebuild.delay("books").get() == "rebuilt"


def test_a_busy_exclusive_run_retries_then_fails_with_lock_timeout(app, dflock_client):
    @app.task(max_retries=1)
    @dflock_multilock(
        "index", max_shared=2, mode="exclusive", acquire_timeout_s=0.1, retry_countdown_s=0
    )
    def rebuild():
        return "rebuilt"

    with (
        dflock_client.multilock("index", max_shared=2).shared(),
        pytest.raises(LockTimeout, match="not held exclusive"),
    ):
        rebuild.delay().get()


def test_current_lease_is_the_multilock_handle(app):
    @app.task
    @dflock_multilock("index", max_shared=2, mode="exclusive")
    def rebuild():
        lease = current_lease()
        return isinstance(lease, SyncMultiLockHandle), lease.fence is not None, lease.mode

    assert rebuild.delay().get() == (True, True, LockMode.EXCLUSIVE)


def test_the_hold_is_renewed_while_the_body_runs(app, dflock_client):
    @app.task
    @dflock_multilock("long", max_shared=2, mode="exclusive", lease_ttl_s=1)
    def rebuild():
        deadline = time.monotonic() + 2.5  # past two leases of 1 s
        while time.monotonic() < deadline:
            ensure_held()  # LockLostError at once if a renewal had failed
            time.sleep(0.05)
        return current_lease().mode.value, current_lease().lost

    assert rebuild.delay().get() == ("exclusive", False)
    assert dflock_client.multilock("long", max_shared=2).mode() is None


def test_over_budget_a_run_skips_or_raises_as_told(app):
    @app.task
    @dflock_rate_limit("api:{user}", "2/m", on_limited="skip")
    def call(user):
        return "called"

    @app.task
    @dflock_rate_limit("api:{user}", "2/m", on_limited="raise")
    def strict(user):
        return "called"

    assert [call.delay("ann").get(), call.delay("ann").get()] == ["called", "called"]
    assert is_skipped(call.delay("ann").get())
    assert call.delay("bob").get() == "called"  # a key of its own
    with pytest.raises(RateLimited, match=r"2 per 60 s"):
        strict.delay("ann").get()


def test_over_budget_a_run_retries_after_the_limiters_retry_after(app, countdowns):
    @app.task(max_retries=1)
    @dflock_rate_limit("quota", "2/m")
    def call():
        return "called"

    assert call.delay().get() == "called"
    assert call.delay().get() == "called"
    with pytest.raises(RateLimited):
        call.delay().get()  # over budget: retried once (eagerly, at once), then failed
    # This process holds both permits, so the retry-after is exact: about a minute, not
    # the fixed 5 s of a lock's retry.
    assert len(countdowns) == 1
    assert 50 < countdowns[0] <= 60


def test_wait_waits_its_turn_then_runs(app):
    @app.task
    @dflock_rate_limit("slow", "1/s", on_limited="wait", acquire_timeout_s=5)
    def call():
        return time.monotonic()

    first, second = call.delay().get(), call.delay().get()
    assert second - first >= 0.9  # the second permit came when the first one's second ended


def test_a_wait_that_runs_out_fails_with_rate_limited(app):
    @app.task
    @dflock_rate_limit("slower", "1/m", on_limited="wait", acquire_timeout_s=0.2)
    def call():
        return "called"

    assert call.delay().get() == "called"
    with pytest.raises(RateLimited):
        call.delay().get()


def test_a_rate_limit_holds_no_lease(app):
    @app.task
    @dflock_rate_limit(None, "5/s")
    def call():
        current_lease()

    with pytest.raises(RuntimeError, match="no dflock lease is held here"):
        call.delay().get()


# -- metrics -----------------------------------------------------------------------------------


def test_every_decorator_labels_its_metrics_with_the_key_template(dflock_settings):
    prometheus_client = pytest.importorskip("prometheus_client")
    app = make_app(
        {
            "servers": [str(s) for s in dflock_settings.servers],
            "key_prefix": dflock_settings.key_prefix,
            "metrics": "prometheus",
        }
    )
    tag = uuid.uuid4().hex[:8]

    @app.task
    @single_instance(f"lbl-one-{tag}:{{n}}")
    def one(n):
        return n

    @app.task
    @dflock_semaphore(f"lbl-slot-{tag}:{{n}}", limit=2)
    def slot(n):
        return n

    @app.task
    @dflock_multilock(f"lbl-mode-{tag}:{{n}}", max_shared=2, mode="shared")
    def mode(n):
        return n

    @app.task
    @dflock_rate_limit(f"lbl-rate-{tag}:{{n}}", "5/s")
    def rate(n):
        return n

    try:
        for task in (one, slot, mode, rate):
            assert task.delay(42).get() == 42
        names = {
            sample.labels.get("name")
            for metric in prometheus_client.REGISTRY.collect()
            if metric.name.startswith("dflock_")
            for sample in metric.samples
        }
    finally:
        close_clients()
    for kind in ("one", "slot", "mode", "rate"):
        assert f"lbl-{kind}-{tag}:{{n}}" in names
    assert not any(name and tag in name and "42" in name for name in names)
