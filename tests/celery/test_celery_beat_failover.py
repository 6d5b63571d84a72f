"""Several real `celery beat` processes, one schedule: only the lease holder sends.

The long test runs three beats for about two minutes on a one-second schedule, kills
the leader with SIGKILL, later freezes the next one (SIGSTOP) for longer than its
lease, and reads every message the beats publish: no slot is sent twice, the gaps stay
within the takeover window, the standbys take over in FIFO order, a beat that lost
its lease sends nothing more, and a waiting standby stops at once on Ctrl-C.
"""

import itertools
import signal
import time

import pytest

import background
from beats import Beat, beat_env
from helpers import eventually_sync

LEASE_S = 5
PERIOD_S = 1.0  # beat_app's schedule
TAKEOVER_S = LEASE_S + 2  # the promise: a standby leads within a lease plus 2 s
START_TIMEOUT_S = 30.0


@pytest.fixture
def beats(tmp_path):
    started = []

    def start(name, env, **options):
        beat = Beat(name, tmp_path, env, **options)
        started.append(beat)
        return beat

    yield start
    for beat in started:
        beat.stop()


def waiters(client, key):
    entry = client.stats().find(client.settings.key_prefix + key)
    return entry["waiters"] if entry else 0


def wait_for_send(sent, beat, *, after, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while (at := sent.first_after(after, beat.pid)) is None:
        if beat.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(
                f"no send from {beat.name} ({what}) within {timeout_s} s:\n{beat.log_tail()}"
            )
        time.sleep(0.05)
    return at


def pause_until(moment):
    """Let the beats run until `moment` on the monotonic clock (the scenario's timeline)."""
    time.sleep(max(0.0, moment - time.monotonic()))


# About two minutes by design (the scenario spans them); it runs in every suite, CI included,
# beside the other tests (see background.py).
@pytest.mark.slow
@pytest.mark.timeout(background.RUN_TIMEOUT_S + 20)
def test_one_beat_sends_through_a_kill_and_a_freeze(request):
    run = background.run_of(request.config)
    if run is not None:
        status, output = run.outcome()
        print(output[-3000:])
        assert status == 0, f"the failover run failed (exit {status}):\n{output[-6000:]}"
        return
    failover(*(request.getfixturevalue(name) for name in FIXTURES))


FIXTURES = ("celery_conf", "queue", "sent", "beats", "dflock_server", "dflock_client")


def failover(celery_conf, queue, sent, beats, dflock_server, dflock_client):
    key = "celery-beat:beat_app"
    env = beat_env(
        {**celery_conf, "task_default_queue": queue},
        servers=dflock_server.address,
        key_prefix=dflock_client.settings.key_prefix,
        lease_s=LEASE_S,
    )
    a = beats("a", env)
    begin = wait_for_send(sent, a, after=0, timeout_s=START_TIMEOUT_S, what="the first leader")
    b = beats("b", env)
    eventually_sync(
        lambda: waiters(dflock_client, key) == 1, timeout_s=START_TIMEOUT_S, what="b queued"
    )
    c = beats("c", env)
    eventually_sync(
        lambda: waiters(dflock_client, key) == 2, timeout_s=START_TIMEOUT_S, what="c queued"
    )

    # SIGKILL of the leader: its connection closes, the next in line (b) leads.
    pause_until(begin + 40)
    killed_at = time.monotonic()
    a.kill()
    b_first = wait_for_send(sent, b, after=killed_at, timeout_s=30, what="after the kill")

    # SIGSTOP of the new leader for longer than its lease: c leads once the lease ends,
    # and b, thawed, sends nothing: its lease is gone, and it queues again.
    pause_until(begin + 80)
    frozen_at = time.monotonic()
    b.freeze()
    c_first = wait_for_send(sent, c, after=frozen_at, timeout_s=30, what="after the freeze")
    pause_until(frozen_at + LEASE_S + 3)
    b.thaw()
    eventually_sync(lambda: waiters(dflock_client, key) == 1, timeout_s=15, what="b queued again")

    pause_until(begin + 120)
    standby_exit_s = b.signal(signal.SIGINT)  # Ctrl-C of a waiting standby
    leader_exit_s = c.signal(signal.SIGTERM)
    time.sleep(0.5)  # the last message's way through the broker
    records = list(sent.records)

    times = [at for at, _, _ in records]
    senders = [pid for _, pid, _ in records]
    report = (
        f"takeover after SIGKILL {b_first - killed_at:.2f} s, after SIGSTOP "
        f"{c_first - frozen_at:.2f} s; standby exit {standby_exit_s:.2f} s, leader exit "
        f"{leader_exit_s:.2f} s; {len(records)} sends over {times[-1] - times[0]:.0f} s"
    )
    print(report)
    # One leader after another, never two: a's sends, then b's, then c's.
    assert [pid for pid, _ in itertools.groupby(senders)] == [a.pid, b.pid, c.pid], report
    assert times[-1] - times[0] > 115
    # No slot twice: sends are a period apart (less the broker's jitter), takeovers included.
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) > PERIOD_S / 2, report
    # No slot skipped beyond the takeover window.
    assert max(gaps) <= TAKEOVER_S + PERIOD_S, report
    assert b_first - killed_at <= TAKEOVER_S + PERIOD_S, report
    assert c_first - frozen_at <= TAKEOVER_S + PERIOD_S, report
    # The frozen leader stopped at once: nothing of b's arrived once it was frozen.
    assert all(at < frozen_at + 0.5 for at in sent.by(b.pid)), report
    # Everywhere else, one send a period: about 120 in all, less two takeover windows.
    assert len(records) >= 120 - 2 * (TAKEOVER_S + PERIOD_S), report
    assert standby_exit_s < 3, report
    assert leader_exit_s < 3, report
    assert b.process.returncode == 0 and c.process.returncode == 0


def test_a_beat_with_settings_that_cannot_work_exits_78(celery_conf, queue, beats, dflock_server):
    env = beat_env(
        {**celery_conf, "task_default_queue": queue},
        servers=dflock_server.address,
        key_prefix="bad.",
        lease_s=0,
    )
    beat = beats("bad", env)
    assert beat.process.wait(30) == 78
    log = beat.log.read_text()
    assert "dflock: beat cannot start: app.conf.dflock_beat_lease_ttl_s" in log
    assert "Traceback" not in log


def test_a_standby_waits_while_the_server_is_down_and_leads_once_it_is_up(
    celery_conf, queue, sent, beats, dflock_server_process
):
    server = dflock_server_process()
    server.kill()
    env = beat_env(
        {**celery_conf, "task_default_queue": queue},
        servers=server.address,
        key_prefix="down.",
        lease_s=LEASE_S,
    )
    beat = beats("alone", env)
    eventually_sync(
        lambda: "cannot wait for 'celery-beat:beat_app'" in beat.log.read_text(),
        timeout_s=START_TIMEOUT_S,
        what="the beat to say the server is down",
    )
    assert sent.records == []
    up_at = time.monotonic()
    server.start()  # same port
    wait_for_send(sent, beat, after=up_at, timeout_s=15, what="once the server is up")
    assert "Traceback" not in beat.log.read_text()
