"""`@dflock_multilock` and `@dflock_rate_limit` on the session's real worker (prefork,
4 children): shared runs overlap, an exclusive run overlaps nothing, and a rate of
2/s holds across the four children, over budget runs retried until all have run.
"""

import itertools

import pytest

RESULT_TIMEOUT_S = 30.0
# A start is taken a few milliseconds after its permit was granted, more on a loaded
# host: a window this much shorter than the period absorbs that spread.
START_SPREAD_S = 0.1

pytestmark = pytest.mark.usefixtures("celery_worker")


def overlap(a, b):
    return a["start"] < b["end"] and b["start"] < a["end"]


def test_shared_runs_overlap_and_an_exclusive_run_overlaps_nothing(celery_app, tag):
    sent = [
        celery_app.index_read.delay(tag, 0.5),
        celery_app.index_read.delay(tag, 0.5),
        celery_app.index_rebuild.delay(tag, 0.5),
        celery_app.index_read.delay(tag, 0.5),
        celery_app.index_read.delay(tag, 0.5),
    ]
    runs = [result.get(timeout=RESULT_TIMEOUT_S) for result in sent]
    rebuild = runs[2]
    reads = runs[:2] + runs[3:]
    assert rebuild["mode"] == "exclusive"
    assert {read["mode"] for read in reads} == {"shared"}
    assert not [read for read in reads if overlap(read, rebuild)], runs
    # Whichever order the children reached the key in, two reads ran on one side of
    # the rebuild together: four children, four reads, one rebuild between them.
    assert any(overlap(a, b) for a, b in itertools.combinations(reads, 2)), runs
    # Several children took part: the key, not the pool, kept the rebuild alone.
    assert len({run["pid"] for run in runs}) >= 2


def test_a_rate_of_two_per_second_holds_across_the_workers_children(celery_app, tag):
    sent = [celery_app.rate_limited.delay(tag) for _ in range(12)]
    # Over budget runs are retried, never dropped: every one of them ends with its run.
    runs = [result.get(timeout=RESULT_TIMEOUT_S) for result in sent]
    starts = sorted(run["start"] for run in runs)
    for first in starts:
        window = [s for s in starts if first <= s < first + 1 - START_SPREAD_S]
        assert len(window) <= 2, [round(s - starts[0], 3) for s in starts]
    # Twelve permits at two a second: the last came five periods after the first.
    assert starts[-1] - starts[0] >= 5 - START_SPREAD_S
    assert any(run["retries"] for run in runs)  # over budget runs were retried
    assert len({run["pid"] for run in runs}) >= 2
