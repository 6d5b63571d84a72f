"""The Celery app the worker tests run: `celery -A celery_app worker` (tests/celery on PYTHONPATH).

Its configuration comes as JSON in DFLOCK_CELERY_TEST_CONF (broker, backend, queue),
and the dflock settings from DFLOCK_* variables, both set by conftest.py. Tasks
report what the tests need through their results and through dflock signals on
`test.started.{tag}`.
"""

import json
import os
import time

from celery.app.base import Celery

from dflock_integrations.celery import (
    current_lease,
    dflock_multilock,
    dflock_rate_limit,
    dflock_semaphore,
    ensure_held,
    get_client,
    install_outcome_signals,
    single_instance,
)

CONF_ENV = "DFLOCK_CELERY_TEST_CONF"
GATE_DEADLINE_S = 30.0  # a task waiting for a gate gives up after this (the test failed)

app = Celery("celery_app")
app.conf.update(json.loads(os.environ.get(CONF_ENV, "{}")))
install_outcome_signals(app)


def announce(tag, **fields):
    """Tell the test this run has started (its pid, its fence)."""
    get_client(app).emit(f"test.started.{tag}", {"pid": os.getpid(), **fields})


def wait_for_gate(gate, *, check=None):
    """Block until the test creates `gate`; `check` runs on every turn."""
    deadline = time.monotonic() + GATE_DEADLINE_S
    while not os.path.exists(gate):
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} never opened")
        time.sleep(0.01)


def interval(hold_s):
    start = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on the host
    time.sleep(hold_s)
    return {
        "pid": os.getpid(),
        "start": start,
        "end": time.monotonic(),
        "fence": current_lease().fence,
    }


@app.task
def ping():
    return "pong"


@app.task
def plain_fails():
    raise ValueError("boom")


@app.task(bind=True)
@single_instance("serial:{tag}", on_locked="wait", acquire_timeout_s=30)
def serial(self, tag, hold_s):
    return interval(hold_s)


@app.task
@dflock_semaphore("slots:{tag}", limit=2, acquire_timeout_s=30)
def limited(tag, hold_s):
    return interval(hold_s)


@app.task(bind=True)
@single_instance("hold:{tag}", on_locked="wait", acquire_timeout_s=30, lease_ttl_s=60)
def hold(self, tag, gate):
    announce(tag, fence=current_lease().fence, task_id=self.request.id)
    wait_for_gate(gate)
    return os.getpid()


@app.task(bind=True, max_retries=5)
@single_instance("flaky:{tag}", on_locked="raise")
def flaky(self, tag, failures):
    if self.request.retries < failures:
        raise self.retry(countdown=0)
    return self.request.retries


@app.task
@single_instance("busy:{tag}", on_locked="skip")
def busy_skip(tag):
    return "ran"


@app.task(max_retries=None)
@single_instance("busy:{tag}", on_locked="retry", retry_countdown_s=0.2)
def busy_retry(tag):
    return "ran"


@app.task
@single_instance("busy:{tag}", on_locked="wait", acquire_timeout_s=20)
def busy_wait(tag):
    return "ran"


@app.task
@single_instance("busy:{tag}", on_locked="wait", acquire_timeout_s=0.3)
def busy_wait_briefly(tag):
    return "ran"


@app.task
@single_instance("busy:{tag}", on_locked="raise")
def busy_raise(tag):
    return "ran"


@app.task(max_retries=None)
@dflock_semaphore("full:{tag}", limit=1, acquire_timeout_s=0.2, retry_countdown_s=0.2)
def full_retry(tag):
    return "ran"


@app.task(bind=True)
@single_instance("lease:{tag}", lease_ttl_s=1, on_locked="raise")
def short_lease(self, tag, gate):
    announce(tag, fence=current_lease().fence)
    # ensure_held() raises LockLostError as soon as the renewal thread finds the loss.
    wait_for_gate(gate, check=ensure_held)
    return "finished"


@app.task(bind=True, time_limit=1)
@single_instance("overrun:{tag}", lease_ttl_s=60, on_locked="raise")
def overrun(self, tag):
    announce(tag, task_id=self.request.id)
    time.sleep(GATE_DEADLINE_S)  # the hard time limit ends this run long before


@app.task
@dflock_multilock("index:{tag}", max_shared=4, mode="shared", acquire_timeout_s=30)
def index_read(tag, hold_s):
    return {**interval(hold_s), "mode": current_lease().mode.value}


@app.task
@dflock_multilock("index:{tag}", max_shared=4, mode="exclusive", acquire_timeout_s=30)
def index_rebuild(tag, hold_s):
    return {**interval(hold_s), "mode": current_lease().mode.value}


@app.task(bind=True, max_retries=None)
@dflock_rate_limit("rate:{tag}", "2/s")
def rate_limited(self, tag):
    # CLOCK_MONOTONIC: one clock for every process on the host.
    return {"start": time.monotonic(), "retries": self.request.retries, "pid": os.getpid()}
