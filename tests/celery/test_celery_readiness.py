"""The worker's readiness file, on a real worker and real dflock server processes: there
while every server answers, gone within the probe's interval and timeout once one is
frozen (SIGSTOP) or killed, back when it answers again, gone when the worker stops."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from dflock_integrations.celery import install_readiness_probe

from beats import HERE

INTERVAL_S = 0.2  # probe_app's
TIMEOUT_S = 0.5
# The longest a change may take to show: a check under way, the pause, the next check.
NOTICE_S = INTERVAL_S + 2 * TIMEOUT_S + 1.0
START_TIMEOUT_S = 60.0


def wait_for(condition, *, timeout_s, what, worker=None, log=None):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if worker is not None and worker.poll() is not None:
            pytest.fail(f"the worker exited:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log else ""
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}\n{tail}")
        time.sleep(0.02)
    return time.monotonic()


def test_the_file_follows_the_servers(celery_conf, dflock_server_process, tmp_path):
    first, second = dflock_server_process(), dflock_server_process()
    ready = tmp_path / "ready"
    log = tmp_path / "worker.log"
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DFLOCK_")},
        "DFLOCK_CELERY_TEST_CONF": json.dumps({**celery_conf, "task_default_queue": queue}),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        "DFLOCK_SERVERS": f"{first.address},{second.address}",
        "PROBE_READY_FILE": str(ready),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "probe_app", "worker", "--pool", "solo",
        "-Q", queue, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info",
    ]  # fmt: skip
    with log.open("wb") as out:
        worker = subprocess.Popen(command, cwd=HERE, env=env, stdout=out, stderr=subprocess.STDOUT)
    watch = {"worker": worker, "log": log}
    try:
        wait_for(ready.exists, timeout_s=START_TIMEOUT_S, what="the file at start", **watch)
        answer = json.loads(ready.read_text())
        assert answer["status"] == "ready"
        assert [s["server"] for s in answer["servers"]] == [first.address, second.address]

        second.freeze()
        frozen_at = time.monotonic()
        gone = wait_for(lambda: not ready.exists(), timeout_s=10, what="not ready", **watch)
        assert gone - frozen_at < NOTICE_S
        second.thaw()
        wait_for(ready.exists, timeout_s=10, what="ready again", **watch)

        first.kill()
        killed_at = time.monotonic()
        gone = wait_for(lambda: not ready.exists(), timeout_s=10, what="not ready", **watch)
        assert gone - killed_at < NOTICE_S
        text = log.read_text()
        assert "dflock: the worker is not ready: " in text
        assert f"dflockd at {second.address} did not answer within 0.5 s" in text
        first.start()  # same port
        wait_for(ready.exists, timeout_s=10, what="ready again", **watch)

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        assert not ready.exists()  # a stopped worker is not ready
        assert "Traceback" not in log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_options_are_checked(celery_conf):
    from celery import Celery

    app = Celery("checked", set_as_current=False)
    with pytest.raises(ValueError, match="interval_s"):
        install_readiness_probe(app, "/tmp/x", interval_s=0)
    with pytest.raises(ValueError, match="timeout_s"):
        install_readiness_probe(app, "/tmp/x", timeout_s=-1)
