"""`example_projects/demo.py` tells the whole story, and leaves no process behind.

The demo prints the process group of each process it starts; every one must be empty
once it exits, whether it ran to the end or was interrupted (SIGINT as from Ctrl-C,
or SIGTERM) in the middle of the story.
"""

import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from examples_support import EXAMPLES, ROOT, stack

import brokers

DEMO = EXAMPLES / "demo.py"
DEMO_TIMEOUT_S = 90
LINE_TIMEOUT_S = 30  # the longest gap between two lines of a demo that still works
GROUP = re.compile(r"process group (\d+)")
STEP_LINE = re.compile(r"^\[\s*\d+\.\d\ds\] ")

# What each step prints, in the order the story tells it.
STORY = [
    "dflock server: embedded",
    "celery worker: ready, pid",
    "web app: uvicorn on http://127.0.0.1:",
    "1. A browser opens the outcome stream: GET /events",
    "stream open: the web app listens to celery.>",
    "2. POST /reports/q1-sales",
    "202 Accepted, task ",
    "the worker runs it, holding report:q1-sales",
    "3. POST /reports/q1-sales again",
    "423 Locked: 'report:q1-sales' is held by another request",
    "refused at once, not queued",
    "SSE outcome: succeeded  task ",
    "4. Three different reports at once",
    "202 Accepted x3",
    "report-render: 2 of 2 slots held, 1 run waiting for a slot",
    "5. manage.py dflock_stats",
    "all three succeeded",
    "stopped: no process left in process groups",
    "Done: the story ran end to end",
]


def demo_env():
    return stack.project_env({})


def assert_groups_empty(output: str) -> list[int]:
    groups = [int(g) for g in GROUP.findall(output)]
    for pgid in groups:
        assert not stack.group_members(pgid), f"process group {pgid} survived the demo"
    return groups


def test_demo_tells_the_story_and_exits_0():
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, str(DEMO)],
        cwd=ROOT,
        env=demo_env(),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert time.monotonic() - started < 60, "the demo is meant to take well under a minute"
    out = run.stdout
    position = 0
    for text in STORY:
        found = out.find(text, position)
        assert found >= 0, f"{text!r} missing, or out of order, in:\n{out}"
        position = found
    # Every step line carries a timestamp.
    steps = [line for line in out.splitlines() if not line.lstrip().startswith("|")]
    assert all(STEP_LINE.match(line) for line in steps), out
    # Four reports succeeded, each announced over SSE exactly once.
    assert out.count("SSE outcome: succeeded") == 4, out
    assert "SSE outcome: skipped" not in out
    # manage.py dflock_stats showed the live semaphore and the report locks.
    assert re.search(r"\| .*demo\.report-render\s+semaphore\s+2/2\s+1\b", out), out
    assert re.search(r"\| .*demo\.report:q\d-sales\s+lock\s+1/1\b", out), out
    # The worker and the web app, each in a process group of its own, left nothing.
    worker, web = (int(g) for g in re.findall(r"pid \d+ \(process group (\d+)\)", out))
    assert worker != web
    assert_groups_empty(out)


@pytest.mark.parametrize("kind", brokers.KINDS)
def test_the_story_on_a_server_without_signals_with_a_broker(kind):
    """dflockd 2.1 has no signals: the outcomes travel through NATS or Redis instead."""
    url = brokers.shared_url(kind)
    options = ["--compat", "2.1", "--signals-url", url, "--key-prefix", f"r{brokers.RUN}.demo."]
    run = subprocess.run(
        [sys.executable, str(DEMO), *options],
        cwd=ROOT,
        env=demo_env(),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
    )
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert "as dflockd 2.1" in out
    assert f"the web app listens to celery.> on {url}" in out
    assert out.count("SSE outcome: succeeded") == 4, out
    assert_groups_empty(out)


def read_lines(process: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_demo_stops_everything_it_started(signum):
    process = subprocess.Popen(
        [sys.executable, str(DEMO)],
        cwd=ROOT,
        env=demo_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = read_lines(process)
    seen = []
    try:
        # Interrupt while a report is being generated: both processes run, a task holds locks.
        while not any("3. POST /reports/q1-sales again" in line for line in seen):
            line = lines.get(timeout=LINE_TIMEOUT_S)
            assert line is not None, "".join(seen)
            seen.append(line)
        process.send_signal(signum)
        status = process.wait(DEMO_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    while (line := lines.get(timeout=LINE_TIMEOUT_S)) is not None:
        seen.append(line)
    output = "".join(seen)
    assert status == 130, output
    assert "interrupted: everything started was stopped" in output
    assert "stopped: no process left in process groups" in output
    assert len(assert_groups_empty(output)) >= 2
