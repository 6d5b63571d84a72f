"""The client tour (`example_projects/client_tour.py`) runs end to end on its own server."""

import subprocess
import sys

from examples_support import EXAMPLES


def test_the_client_tour_runs_end_to_end():
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "client_tour.py")],
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
