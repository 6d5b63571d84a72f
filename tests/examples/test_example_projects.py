"""Each project of the story works on its own, against the session's dflock server.

- django_site: `manage.py check` is clean; `manage.py dflock_stats` and the admin's
  status page show locks held elsewhere (here, by the test).
- celery_app: a run queued from the command line (`celery call`) is announced as a
  `succeeded` signal with its keys; a run whose report is already held is `skipped`.
- fastapi_app: the page, 202 for a report, 423 for a report held elsewhere, and the
  event stream passing on a signal.
"""

import json
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from examples_support import EXAMPLES, logs_of, stack

SIGNAL_TIMEOUT_S = 20.0  # a report renders in about 1 s; this is the deadline, not the wait
ADMIN_CHECK = """
from django.contrib.auth.models import User
from django.test import Client
user = User.objects.create_superuser("admin", "admin@example.test", "not-secret")
client = Client()
client.force_login(user)
answer = client.get("/admin/dflock/status/", HTTP_HOST="localhost")
print("STATUS", answer.status_code)
print(answer.content.decode())
"""


def tag() -> str:
    return uuid.uuid4().hex[:10]


# -- django_site ------------------------------------------------------------------------------


def test_django_site_passes_its_checks(example_env):
    run = stack.manage("check", "--fail-level", "WARNING", env=example_env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "System check identified no issues" in run.stdout


def test_dflock_stats_shows_the_live_locks(example_env, example_client, example_prefix):
    report = f"report:{tag()}"
    with example_client.lock(report), example_client.semaphore("report-render", limit=2):
        run = stack.manage("dflock_stats", env=example_env)
        as_json = stack.manage("dflock_stats", "--json", env=example_env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{example_prefix}{report}" in run.stdout
    assert f"{example_prefix}report-render" in run.stdout
    stats = json.loads(as_json.stdout)
    assert {e["key"] for e in stats["locks"]} >= {f"{example_prefix}{report}"}
    assert {e["key"] for e in stats["semaphores"]} >= {f"{example_prefix}report-render"}


def test_admin_status_page_shows_the_live_locks(example_env, example_client, example_prefix):
    migrate = stack.manage("migrate", "--noinput", env=example_env)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    report = f"report:{tag()}"
    with example_client.lock(report):
        run = stack.manage("shell", "-c", ADMIN_CHECK, env=example_env)
    assert run.returncode == 0, run.stdout + run.stderr
    _, _, answer = run.stdout.partition("STATUS ")
    status, _, page = answer.partition("\n")
    assert status == "200", run.stdout
    assert f"{example_prefix}{report}" in page


# -- celery_app -------------------------------------------------------------------------------


def call_task(env: dict[str, str], report_id: str) -> str:
    """`celery -A celery_app call ...`, as a user would; the queued task's id."""
    command = [sys.executable, "-m", "celery", "-A", "celery_app", "call"]
    command += ["celery_app.tasks.generate_report", "--args", json.dumps([report_id])]
    run = subprocess.run(
        command,
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.strip()


def outcome_of(subscription, task_id: str, running) -> dict:
    """The outcome signal of `task_id`, skipping other tasks' signals; fails at the deadline."""
    deadline = time.monotonic() + SIGNAL_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        signal = subscription.get(timeout_s=left)
        if signal is not None:
            body = json.loads(signal.payload)
            if body["task_id"] == task_id:
                return {"channel": signal.channel, **body}
    pytest.fail(f"no outcome signal for task {task_id} in {SIGNAL_TIMEOUT_S} s\n{logs_of(running)}")


def test_worker_runs_a_report_and_announces_it(example_stack, example_env, example_client):
    report = tag()
    with example_client.listen("celery.>") as subscription:
        task_id = call_task(example_env, report)
        outcome = outcome_of(subscription, task_id, example_stack)
    assert outcome["channel"] == "celery.succeeded.celery_app.tasks.generate_report"
    assert outcome["outcome"] == "succeeded"
    assert outcome["keys"] == [f"report:{report}", "report-render"]
    assert outcome["runtime_s"] >= 0.9  # REPORTS_RENDER_S is 1 s


def test_worker_skips_a_report_already_in_the_works(example_stack, example_env, example_client):
    report = tag()
    with (
        example_client.listen("celery.>") as subscription,
        example_client.lock(f"report:{report}"),
    ):
        task_id = call_task(example_env, report)
        outcome = outcome_of(subscription, task_id, example_stack)
    assert outcome["outcome"] == "skipped"
    assert outcome["channel"] == "celery.skipped.celery_app.tasks.generate_report"


# -- fastapi_app ------------------------------------------------------------------------------


def test_page_has_the_elements_the_browser_test_uses(example_stack):
    page = httpx.get(f"{example_stack.url}/", timeout=10).text
    for element in ('id="generate"', 'id="report-id"', 'id="outcomes"', 'id="last-request"'):
        assert element in page
    assert 'new EventSource("/events")' in page


def test_post_queues_a_report(example_stack):
    answer = httpx.post(f"{example_stack.url}/reports/{tag()}", timeout=10)
    assert answer.status_code == 202, answer.text
    assert answer.json()["task_id"]


def test_post_for_a_report_in_the_works_is_refused(example_stack, example_client):
    report = tag()
    with example_client.lock(f"report:{report}"):
        answer = httpx.post(f"{example_stack.url}/reports/{report}", timeout=10)
    assert answer.status_code == 423, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["error"] == "locked"


def test_event_stream_passes_outcome_signals_on(example_stack, example_client):
    body = {"task_id": tag(), "outcome": "succeeded", "runtime_s": 0.5, "keys": []}
    with httpx.stream("GET", f"{example_stack.url}/events", timeout=10) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = (line for line in stream.iter_lines() if line)  # events end with a blank line
        assert next(lines) == ": listening"  # subscribed: what is emitted now arrives
        example_client.emit("celery.succeeded.tests.fake_task", json.dumps(body))
        event = [next(lines), next(lines)]
    assert event == ["event: outcome", f"data: {json.dumps(body)}"]
