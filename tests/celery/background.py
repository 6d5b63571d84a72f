"""The two-minute beat failover, run beside the rest of the suite instead of after it.

The scenario spends its two minutes mostly waiting on real beat processes, so the
session starts it at once in a pytest process of its own (the same test, run alone),
and the test in this session waits for that run and reports its outcome. It runs in a
process of its own so that the rest of the suite never holds up its message reader.
`DFLOCK_TEST_FAILOVER=here` runs it in the session instead, as a plain test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

NODE = "tests/celery/test_celery_beat_failover.py::test_one_beat_sends_through_a_kill_and_a_freeze"
WHERE = "DFLOCK_TEST_FAILOVER"
RUN_TIMEOUT_S = 200.0

_key = pytest.StashKey["Run"]()


class Run:
    """The failover test, running alone in a child pytest."""

    def __init__(self, root: Path) -> None:
        self.log = Path(tempfile.mkstemp(prefix="dflock-failover-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", NODE],
                cwd=root,
                env={**os.environ, WHERE: "here"},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its beats and servers go with it
            )
        self.started = time.monotonic()

    def outcome(self) -> tuple[int, str]:
        """Wait for the run; its exit status and output."""
        left = RUN_TIMEOUT_S - (time.monotonic() - self.started)
        try:
            status = self.process.wait(max(1.0, left))
        except subprocess.TimeoutExpired:
            self.stop()
            status = -1
        return status, self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def start_if_collected(session: pytest.Session) -> None:
    if os.environ.get(WHERE) == "here" or session.config.option.collectonly:
        return
    if any(item.nodeid == NODE for item in session.items):
        session.config.stash[_key] = Run(session.config.rootpath)


def run_of(config: pytest.Config) -> Run | None:
    return config.stash.get(_key, None)


def stop(session: pytest.Session) -> None:
    run = run_of(session.config)
    if run is not None:
        run.stop()
