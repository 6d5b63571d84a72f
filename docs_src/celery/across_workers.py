"""`@single_instance` on a real prefork worker: runs never overlap, whichever child runs them.

Run by hand with `python across_workers.py`: it starts
`celery -A across_workers worker --pool prefork --concurrency 2` on kombu's filesystem
transport in a temporary folder, sends tasks, checks what happened and stops the worker.
"""

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from celery import Celery

from dflock_integrations.celery import current_lease, get_client, is_skipped, single_instance
from dflock_integrations.testing.filesystem_broker import filesystem_broker

HERE = Path(__file__).resolve().parent
CONF_ENV = "ACROSS_WORKERS_CONF"  # the broker's folders, shared by this script and the worker
DEADLINE_S = 30.0  # the longest a task of this example waits for the script
# The whole check must end well inside the 90 s the docs test gives a script: a script
# killed from outside would leave its worker running.
BUDGET_S = 60.0
_deadline = time.monotonic() + BUDGET_S


def left():
    """Seconds left of the script's budget."""
    remaining = _deadline - time.monotonic()
    if remaining <= 0:
        raise AssertionError(f"the example did not finish within {BUDGET_S} s")
    return remaining


app = Celery("across_workers")
app.conf.update(json.loads(os.environ.get(CONF_ENV, "{}")))
app.conf.worker_prefetch_multiplier = 1
app.conf.worker_lost_wait = 1.0  # seconds before a killed process's task is failed


# --8<-- [start:tasks]
@app.task
@single_instance("import:{source}", on_locked="wait", acquire_timeout_s=60)
def import_feed(source):
    start = time.monotonic()  # one clock for every process on this machine
    time.sleep(0.2)  # the import itself
    return {
        "pid": os.getpid(),
        "start": start,
        "end": time.monotonic(),
        "fence": current_lease().fence,
    }


@app.task
@single_instance("import:{source}", on_locked="skip")
def import_feed_unless_running(source):
    return os.getpid()


# --8<-- [end:tasks]


@app.task
@single_instance("import:{source}", lease_ttl_s=60)
def import_until(source, gate):
    """Say which process runs it, then hold the lock until `gate` exists."""
    get_client(app).emit(f"example.started.{source}", {"pid": os.getpid()})
    deadline = time.monotonic() + DEADLINE_S
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)


@app.task
def ping():
    return "pong"


def start_worker(conf, log):
    env = {
        **os.environ,
        CONF_ENV: json.dumps(conf),
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ next to the example
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "celery", "-A", "across_workers", "worker"]
    command += ["--pool", "prefork", "--concurrency", "2", "-l", "warning"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return subprocess.Popen(
        command, cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_worker(worker):
    """Warm shutdown (TERM), then KILL whatever is left of its process group."""
    worker.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.wait(15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(15)


def wait_until(check, what):
    while not check():
        if left() < 0.05:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_for_ping(worker):
    from celery.exceptions import TimeoutError as ResultTimeout

    result = ping.delay()
    while True:
        if worker.poll() is not None:
            raise AssertionError("the worker exited at start")
        try:
            return result.get(timeout=min(0.5, left()), interval=0.02)
        except ResultTimeout:
            pass


def waiters(client, key):
    entry = client.stats().find(client.settings.key_prefix + key)
    return entry["waiters"] if entry else 0


def check(client, subscription, gate):
    # Six imports of one feed, sent at once, run one after the other on two processes.
    runs = [import_feed.delay("acme") for _ in range(6)]
    runs = sorted((r.get(timeout=left()) for r in runs), key=lambda run: run["start"])
    for earlier, later in itertools.pairwise(runs):
        assert later["start"] >= earlier["end"], f"runs overlapped: {earlier} {later}"
        assert later["fence"] > earlier["fence"]
    assert len({run["pid"] for run in runs}) == 2, "both worker processes should take part"

    # While another process holds the feed's lock, the skip variant does not run.
    with client.lock("import:globex"):
        assert is_skipped(import_feed_unless_running.delay("globex").get(timeout=left()))

    # A worker process killed mid-task releases its lock when its connection closes,
    # long before its 60 s lease would run out: the queued run starts at once.
    import_until.delay("initech", str(gate))
    started = subscription.get(timeout_s=left())
    assert started is not None and started.channel == "example.started.initech"
    queued = import_feed.delay("initech")
    wait_until(lambda: waiters(client, "import:initech") == 1, "the second run to queue")
    os.kill(started.json()["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    run = queued.get(timeout=left())
    assert run["start"] - killed_at < 10, "the lock was not released when the process died"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        conf = filesystem_broker(root)
        app.conf.update(conf)
        client = get_client(app)
        with (root / "worker.log").open("wb") as log:
            worker = start_worker(conf, log)
        try:
            wait_for_ping(worker)
            with client.listen("example.>") as subscription:
                check(client, subscription, root / "gate")
        except BaseException:
            print((root / "worker.log").read_text(errors="replace")[-5000:], file=sys.stderr)
            raise
        finally:
            (root / "gate").touch()
            stop_worker(worker)
            app.close()
    print("across_workers: ok")
