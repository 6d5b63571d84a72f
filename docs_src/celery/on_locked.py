"""What a run does when another run holds its key: on_locked="skip" | "retry" | "wait" | "raise"."""

import threading
import time

from celery import Celery

from dflock_integrations.celery import get_client, is_skipped, single_instance
from dflock_integrations.errors import LockTimeout

app = Celery("on_locked", broker="memory://")
app.conf.task_always_eager = True


# --8<-- [start:policies]
@app.task
@single_instance("invoice:{n}", on_locked="skip")  # the skip result at once
def skip(n):
    return "ran"


@app.task(max_retries=3)
@single_instance("invoice:{n}", on_locked="retry", retry_countdown_s=30)  # back in 30 s
def retry(n):
    return "ran"


@app.task(max_retries=8)
@single_instance("invoice:{n}", on_locked="retry", retry_backoff=True)  # 1, 2, 4... s, jittered
def retry_backing_off(n):
    return "ran"


@app.task
@single_instance("invoice:{n}", on_locked="wait", acquire_timeout_s=120)  # queue, FIFO
def wait(n):
    return "ran"


@app.task
@single_instance("invoice:{n}", on_locked="raise")  # fail with LockTimeout at once
def fail(n):
    return "ran"


# --8<-- [end:policies]


# --8<-- [start:self_retry]
@app.task(bind=True, max_retries=5)
@single_instance("sync:{account}", on_locked="raise")
def sync_account(self, account):
    if self.request.retries < 2:  # say the remote API answered 503 twice
        # The lock is given back before the retry is published, so the retry
        # never finds its own task's lock.
        raise self.retry(countdown=0)
    return self.request.retries


# --8<-- [end:self_retry]


def waiters(client, key):
    entry = client.stats().find(client.settings.key_prefix + key)
    return entry["waiters"] if entry else 0


def eventually(check, what, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def expect_lock_timeout(task, n):
    try:
        task.delay(n).get()
    except LockTimeout as exc:
        return exc
    raise AssertionError(f"{task.name} did not raise LockTimeout")


if __name__ == "__main__":
    client = get_client(app)
    for task in (skip, retry, retry_backing_off, wait, fail):
        assert task.delay(1).get() == "ran", task.name  # free key: every policy runs

    with client.lock("invoice:1"):
        skipped = skip.delay(1).get()
        assert skipped == {"dflock": "skipped", "keys": ["invoice:1"]}, skipped
        assert is_skipped(skipped)
        assert expect_lock_timeout(fail, 1).timeout_s == 0
        # Eager mode runs retries at once (no countdown): 3 retries, then the error.
        assert expect_lock_timeout(retry, 1).key == "invoice:1"
        assert expect_lock_timeout(retry_backing_off, 1).key == "invoice:1"

    # "wait" queues behind the holder and runs as soon as it lets go.
    holder = client.lock("invoice:2")
    holder.acquire()
    result = []
    runner = threading.Thread(target=lambda: result.append(wait.delay(2).get()))
    runner.start()
    eventually(lambda: waiters(client, "invoice:2") == 1, "the task to queue")
    assert result == []
    holder.release()
    runner.join(10)
    assert result == ["ran"]

    assert sync_account.delay("acme").get() == 2
    print("on_locked: ok")
