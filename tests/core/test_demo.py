"""The client tour (`python -m dflock_integrations.demo`) runs end to end on its own server."""

import subprocess
import sys


def test_demo_runs_end_to_end():
    result = subprocess.run(
        [sys.executable, "-m", "dflock_integrations.demo"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "worker B gives up: lock 'order:42' not granted within 0.3 s" in out
    assert "worker C, first in the queue, holds order:42" in out
    assert "now 3 of 2" not in out  # the semaphore never admits a third job
    assert out.count("running (now") == 5
    assert 'received reports.done.quarterly {"rows":1200}' in out
    assert "nightly-backup" in out
    assert out.rstrip().endswith("the server stops now.")
