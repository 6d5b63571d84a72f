"""Decorated tasks on a real worker (prefork, 4 children) and a real broker.

Every test listens to the worker's signals before it sends anything, uses keys of
its own (the `tag` fixture), and waits for events with deadlines.
"""

import itertools
import os
import signal
import time

import pytest

from dflock_integrations.celery import is_skipped
from dflock_integrations.errors import LockLostError, LockTimeout

from helpers import eventually_sync

RESULT_TIMEOUT_S = 30.0

pytestmark = pytest.mark.usefixtures("celery_worker")


class Heard:
    """Signals heard on a subscription, kept until a test asks for them (in any order)."""

    def __init__(self, sub):
        self.sub = sub
        self.kept = []

    def take(self, match, *, timeout_s=10.0, what="a signal"):
        """The first signal for which `match(channel, payload)` is true, within the deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            for index, (channel, body) in enumerate(self.kept):
                if match(channel, body):
                    del self.kept[index]
                    return channel, body
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no {what} within {timeout_s} s; heard {self.kept}")
            sig = self.sub.get(timeout_s=left)
            if sig is not None:
                self.kept.append((sig.channel, sig.json()))

    def outcome(self, task_id, *, timeout_s=10.0):
        """(channel, payload) of the next outcome signal of one task."""
        return self.take(
            lambda channel, body: channel.startswith("celery.") and body["task_id"] == task_id,
            timeout_s=timeout_s,
            what=f"outcome signal of task {task_id}",
        )

    def no_more_outcomes(self, task_id, *, within_s=1.5):
        """Nothing else is announced for `task_id` within a short, bounded window."""
        flush_deadline = time.monotonic() + within_s
        while (left := flush_deadline - time.monotonic()) > 0:
            sig = self.sub.get(timeout_s=left)
            if sig is not None:
                self.kept.append((sig.channel, sig.json()))
        extra = [
            c for c, body in self.kept if c.startswith("celery.") and body["task_id"] == task_id
        ]
        assert not extra, f"a second outcome for {task_id}: {extra}"

    def started(self, tag, *, timeout_s=10.0):
        """What a task announced on `test.started.{tag}`."""
        return self.take(
            lambda channel, _: channel == f"test.started.{tag}",
            timeout_s=timeout_s,
            what=f"a start on test.started.{tag}",
        )[1]


@pytest.fixture
def heard(worker_client):
    """Every signal of the worker's tasks from now on (outcomes and test announcements)."""
    with worker_client.listen(">") as sub:
        yield Heard(sub)


def key_entry(client, key):
    return client.stats().find(client.settings.key_prefix + key)


def waiters_on(client, key):
    entry = key_entry(client, key)
    return entry["waiters"] if entry else 0


def max_concurrency(intervals):
    """The most runs in progress at one moment (an end counts before a start at a tie)."""
    events = sorted([(i["start"], 1) for i in intervals] + [(i["end"], -1) for i in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_ten_simultaneous_runs_never_overlap(celery_app, tag):
    results = [celery_app.serial.delay(tag, 0.05) for _ in range(10)]
    runs = sorted((r.get(timeout=RESULT_TIMEOUT_S) for r in results), key=lambda i: i["start"])
    assert max_concurrency(runs) == 1
    for earlier, later in itertools.pairwise(runs):
        assert later["start"] >= earlier["end"]
        assert later["fence"] > earlier["fence"]  # each run held a newer grant
    # Several worker processes took part: the lock, not the pool, kept them apart.
    assert len({run["pid"] for run in runs}) >= 2


def test_semaphore_never_runs_more_than_its_limit(celery_app, tag):
    results = [celery_app.limited.delay(tag, 0.25) for _ in range(8)]
    runs = [r.get(timeout=RESULT_TIMEOUT_S) for r in results]
    assert max_concurrency(runs) == 2


def test_killed_child_releases_its_lock_at_once(
    celery_app, own_worker, worker_client, heard, tag, gate
):
    # The lease is 60 s: a successor within 2 s proves the release came from the
    # closed connection, not from the lease running out.
    first = celery_app.hold.apply_async((tag, str(gate)), queue=own_worker.queue)
    holder = heard.started(tag)
    second = celery_app.hold.apply_async((tag, str(gate)), queue=own_worker.queue)
    eventually_sync(
        lambda: waiters_on(worker_client, f"hold:{tag}") == 1,
        timeout_s=10,
        what="the second run to queue on the lock",
    )
    os.kill(holder["pid"], signal.SIGKILL)
    successor = heard.started(tag, timeout_s=2.0)
    assert successor["task_id"] == second.id
    assert successor["pid"] != holder["pid"]
    assert successor["fence"] > holder["fence"]

    channel, body = heard.outcome(first.id)
    assert channel == "celery.failed.celery_app.hold"
    assert body["exception"] == "WorkerLostError"

    gate.touch()
    assert second.get(timeout=RESULT_TIMEOUT_S) == successor["pid"]
    assert heard.outcome(second.id)[0] == "celery.succeeded.celery_app.hold"


def test_retrying_task_is_not_blocked_by_its_own_lock(celery_app, worker_client, heard, tag):
    result = celery_app.flaky.delay(tag, 2)
    assert result.get(timeout=RESULT_TIMEOUT_S) == 2
    # Each attempt may run in another child, whose sender thread announces it: the
    # signals can cross, so they are put back in attempt order.
    outcomes = sorted(
        (heard.outcome(result.id) for _ in range(3)), key=lambda outcome: outcome[1]["retries"]
    )
    assert [channel for channel, _ in outcomes] == [
        "celery.retried.celery_app.flaky",
        "celery.retried.celery_app.flaky",
        "celery.succeeded.celery_app.flaky",
    ]
    assert [body["retries"] for _, body in outcomes] == [0, 1, 2]
    assert key_entry(worker_client, f"flaky:{tag}") is None


def test_outcome_signals_for_decorated_and_plain_tasks(celery_app, heard, tag):
    decorated = celery_app.busy_raise.delay(tag)
    plain = celery_app.ping.delay()
    failing = celery_app.plain_fails.delay()
    for result in (decorated, plain, failing):
        result.get(timeout=RESULT_TIMEOUT_S, propagate=False)

    channel, body = heard.outcome(decorated.id)
    assert channel == "celery.succeeded.celery_app.busy_raise"
    assert body["task_name"] == "celery_app.busy_raise"
    assert body["outcome"] == "succeeded"
    assert body["retries"] == 0
    assert body["exception"] is None
    assert body["keys"] == [f"busy:{tag}"]
    assert body["worker"].startswith("dflocktest-")
    assert 0 <= body["runtime_s"] < RESULT_TIMEOUT_S

    channel, body = heard.outcome(plain.id)
    assert channel == "celery.succeeded.celery_app.ping"
    assert body["runtime_s"] is not None

    channel, body = heard.outcome(failing.id)
    assert channel == "celery.failed.celery_app.plain_fails"
    assert body["exception"] == "ValueError"


def test_on_locked_skip_returns_the_skip_result_without_running(
    celery_app, worker_client, heard, tag
):
    with worker_client.lock(f"busy:{tag}"):
        result = celery_app.busy_skip.delay(tag)
        value = result.get(timeout=RESULT_TIMEOUT_S)
    # Through the real result backend: not None, and recognised as a skip.
    assert value == {"dflock": "skipped", "keys": [f"busy:{tag}"]}
    assert is_skipped(value) and is_skipped(result)
    channel, body = heard.outcome(result.id)
    assert channel == "celery.skipped.celery_app.busy_skip"
    assert body["keys"] == [f"busy:{tag}"]


def test_on_locked_raise_fails_with_lock_timeout(celery_app, worker_client, heard, tag):
    with worker_client.lock(f"busy:{tag}"):
        result = celery_app.busy_raise.delay(tag)
        with pytest.raises(LockTimeout):
            result.get(timeout=RESULT_TIMEOUT_S)
    channel, body = heard.outcome(result.id)
    assert channel == "celery.failed.celery_app.busy_raise"
    assert body["exception"] == "LockTimeout"


def test_on_locked_retry_comes_back_until_the_lock_is_free(celery_app, worker_client, heard, tag):
    with worker_client.lock(f"busy:{tag}"):
        result = celery_app.busy_retry.delay(tag)
        for _ in range(2):
            channel, body = heard.outcome(result.id)
            assert channel == "celery.retried.celery_app.busy_retry"
            assert body["exception"] == "LockTimeout"
    assert result.get(timeout=RESULT_TIMEOUT_S) == "ran"
    channel, body = heard.take(
        lambda _, body: body.get("task_id") == result.id and body["outcome"] != "retried",
        what="the final outcome",
    )
    assert channel == "celery.succeeded.celery_app.busy_retry"
    assert body["retries"] >= 2


def test_on_locked_wait_queues_and_runs_once_released(celery_app, worker_client, tag):
    with worker_client.lock(f"busy:{tag}"):
        result = celery_app.busy_wait.delay(tag)
        eventually_sync(
            lambda: waiters_on(worker_client, f"busy:{tag}") == 1,
            timeout_s=10,
            what="the task to wait on the lock",
        )
        assert not result.ready()
    assert result.get(timeout=RESULT_TIMEOUT_S) == "ran"


def test_on_locked_wait_gives_up_after_its_timeout(celery_app, worker_client, heard, tag):
    with worker_client.lock(f"busy:{tag}"):
        result = celery_app.busy_wait_briefly.delay(tag)
        with pytest.raises(LockTimeout, match=r"within 0\.3 s"):
            result.get(timeout=RESULT_TIMEOUT_S)
    assert heard.outcome(result.id)[0] == "celery.failed.celery_app.busy_wait_briefly"


def test_full_semaphore_retries_with_a_countdown(celery_app, worker_client, heard, tag):
    with worker_client.semaphore(f"full:{tag}", limit=1):
        result = celery_app.full_retry.delay(tag)
        channel, body = heard.outcome(result.id)
        assert channel == "celery.retried.celery_app.full_retry"
        assert body["exception"] == "LockTimeout"
    assert result.get(timeout=RESULT_TIMEOUT_S) == "ran"


def test_lost_lease_fails_the_task_and_says_so(celery_app, worker_client, heard, tag, gate):
    # A frozen process (SIGSTOP) cannot renew: its 1 s lease expires on the server.
    result = celery_app.short_lease.delay(tag, str(gate))
    pid = heard.started(tag)["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        eventually_sync(
            lambda: key_entry(worker_client, f"lease:{tag}") is None,
            timeout_s=10,
            what="the frozen task's lease to expire",
        )
    finally:
        os.kill(pid, signal.SIGCONT)
    with pytest.raises(LockLostError):
        result.get(timeout=RESULT_TIMEOUT_S)
    channel, body = heard.outcome(result.id)
    assert channel == "celery.lost.celery_app.short_lease"
    assert body["exception"] == "LockLostError"


def test_terminated_task_releases_its_lock_and_says_revoked(
    celery_app, own_worker, worker_client, heard, tag, gate
):
    first = celery_app.hold.apply_async((tag, str(gate)), queue=own_worker.queue)
    holder = heard.started(tag)
    second = celery_app.hold.apply_async((tag, str(gate)), queue=own_worker.queue)
    eventually_sync(
        lambda: waiters_on(worker_client, f"hold:{tag}") == 1,
        timeout_s=10,
        what="the second run to queue on the lock",
    )
    celery_app.app.control.revoke(first.id, terminate=True)
    successor = heard.started(tag)
    assert successor["task_id"] == second.id
    channel, body = heard.outcome(first.id)
    assert channel == "celery.revoked.celery_app.hold", str(body)
    heard.no_more_outcomes(first.id)  # one end, one signal
    gate.touch()
    assert second.get(timeout=RESULT_TIMEOUT_S) == successor["pid"]
    assert holder["pid"] != successor["pid"]


def test_a_hard_time_limit_frees_the_lock_and_is_announced_once(
    celery_app, own_worker, worker_client, heard, tag
):
    result = celery_app.overrun.apply_async((tag,), queue=own_worker.queue)
    heard.started(tag)
    channel, body = heard.outcome(result.id)
    assert channel == "celery.failed.celery_app.overrun"
    assert body["exception"] == "TimeLimitExceeded"
    assert body["worker"].startswith("dflocktest-")  # the node name, as Celery knows it
    heard.no_more_outcomes(result.id)
    eventually_sync(
        lambda: (
            key_entry(worker_client, f"overrun:{tag}") is None
            or key_entry(worker_client, f"overrun:{tag}").get("owner_conn_id") is None
        ),
        timeout_s=5,
        what="the killed run's lock to be released",
    )
