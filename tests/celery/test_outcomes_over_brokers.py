"""Issue 15's "done when": on a lock server without signals (the 2.1 profile), with
signals on NATS or Redis, the outcome signals of a real worker's `@single_instance` task
reach a Python listener, a browser's event stream and `dflock listen`.

Each broker gets a worker of its own (on a queue of its own, beside the session's
worker) whose DFLOCK_SIGNALS_URL points at it.
"""

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI, Request

from dflock_integrations import SyncDflockClient
from dflock_integrations.fastapi import SignalStreamResponse, dflock_lifespan
from dflock_integrations.testing.pytest_plugin import settings_for

import brokers
import live_http
from workers import start_worker

pytestmark = pytest.mark.dflock_compat("2.1")

TASK = "celery_app.serial"
SUCCEEDED = f"celery.succeeded.{TASK}"
SIGNAL_TIMEOUT_S = 30.0


@pytest.fixture(scope="module", params=brokers.KINDS)
def signals_worker(request, celery_app, celery_conf, dflock_server, tmp_path_factory):
    """A worker whose signals go through one broker, its locks to the 2.1 server."""
    url = brokers.shared_url(request.param)
    prefix = f"r{brokers.RUN}.w{request.param}."
    conf = {
        **celery_conf,
        "task_default_queue": f"{celery_conf['task_default_queue']}-{request.param}",
    }
    env = {
        "DFLOCK_SERVERS": dflock_server.address,
        "DFLOCK_KEY_PREFIX": prefix,
        "DFLOCK_SIGNALS_URL": url,
    }
    log = tmp_path_factory.mktemp(f"worker-{request.param}") / "worker.log"
    worker = start_worker(celery_app, conf, log, env)
    try:
        yield SimpleNamespace(
            queue=conf["task_default_queue"],
            env=env,
            settings=settings_for(dflock_server, key_prefix=prefix, signals_url=url),
            worker=worker,
        )
    finally:
        worker.stop()


def run_serial(celery_app, signals_worker, tag=None):
    """Queue the `@single_instance` task (it holds `serial:{tag}` while it runs)."""
    tag = tag or uuid.uuid4().hex[:12]
    return celery_app.serial.apply_async((tag, 0), queue=signals_worker.queue)


def test_the_server_has_no_signals_of_its_own(signals_worker):
    # What makes the tests below mean something: without the broker, no signals at all.
    settings = signals_worker.settings.replace(signals_url=None)
    with SyncDflockClient(settings) as client, pytest.raises(Exception, match="no signals"):
        client.emit("celery.x", "1")


def test_outcome_signals_reach_a_listener(celery_app, signals_worker):
    with (
        SyncDflockClient(signals_worker.settings) as client,
        client.listen(f"celery.*.{TASK}") as sub,
    ):
        result = run_serial(celery_app, signals_worker, tag="listener")
        deadline = time.monotonic() + SIGNAL_TIMEOUT_S
        while time.monotonic() < deadline:
            signal = sub.get(timeout_s=1)
            if signal is not None and signal.json()["task_id"] == result.id:
                break
        else:
            pytest.fail(f"no outcome signal for {result.id}:\n{signals_worker.worker.log_tail()}")
        assert signal.channel == SUCCEEDED
        body = signal.json()
        assert (body["outcome"], body["task_name"]) == ("succeeded", TASK)
        assert body["keys"] == ["serial:listener"]


async def test_an_event_stream_receives_them(celery_app, signals_worker):
    app = FastAPI(lifespan=dflock_lifespan(signals_worker.settings))

    @app.get("/events")
    async def events(request: Request) -> SignalStreamResponse:
        return SignalStreamResponse(request, "celery.>")

    with live_http.serve(app) as base:
        async with (
            httpx.AsyncClient(timeout=SIGNAL_TIMEOUT_S) as http,
            http.stream("GET", f"{base}/events") as response,
        ):
            assert response.status_code == 200
            lines = response.aiter_lines()
            assert await anext(lines) == ": listening"
            result = run_serial(celery_app, signals_worker)

            async def outcome() -> tuple[str, dict]:
                event = None
                async for line in lines:
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        body = json.loads(line.removeprefix("data: "))
                        if body["task_id"] == result.id:
                            return event, body
                raise AssertionError("the stream ended")

            event, body = await asyncio.wait_for(outcome(), SIGNAL_TIMEOUT_S)
    assert event == SUCCEEDED
    assert body["outcome"] == "succeeded"


def test_dflock_listen_prints_them(celery_app, signals_worker):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFLOCK_")}
    env.update(signals_worker.env, PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "dflock_integrations", "listen", "celery.>"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # It says so on stderr once it is subscribed.
        assert "listening on" in process.stderr.readline()
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()
        result = run_serial(celery_app, signals_worker)
        deadline = time.monotonic() + SIGNAL_TIMEOUT_S
        while True:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if result.id in line:
                break
    finally:
        process.terminate()
        process.wait(10)
    channel, _, payload = line.rstrip("\n").partition(" ")
    assert channel == SUCCEEDED
    assert json.loads(payload)["outcome"] == "succeeded"
