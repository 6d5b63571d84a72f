"""Outcome signals: every decorated task says how it ended on `celery.{outcome}.{task}`."""

from celery import Celery

from dflock_integrations.celery import (
    flush_outcome_signals,
    get_client,
    install_outcome_signals,
    single_instance,
)

app = Celery("outcome_signals", broker="memory://")
app.conf.task_always_eager = True

# --8<-- [start:install]
install_outcome_signals(app)  # the undecorated tasks of this app announce their end too
# --8<-- [end:install]


# --8<-- [start:tasks]
@app.task
@single_instance("report:{report_id}")
def build_report(report_id):
    return report_id


@app.task
@single_instance("heartbeat", emit=False)  # frequent and dull: no signal
def heartbeat():
    return "beat"


@app.task
def send_newsletter():
    raise ConnectionRefusedError("smtp down")


# --8<-- [end:tasks]


# --8<-- [start:listen]
def next_outcomes(subscription, count, timeout_s=5.0):
    """The next `count` signals as (channel, payload) pairs; fewer if none comes in time."""
    heard = []
    while len(heard) < count:
        signal = subscription.get(timeout_s=timeout_s)
        if signal is None:
            break
        heard.append((signal.channel, signal.json()))
    return heard


# --8<-- [end:listen]


if __name__ == "__main__":
    client = get_client(app)
    with client.listen("celery.>") as subscription:  # before sending: signals are not stored
        build_report.delay(7).get()
        heartbeat.delay().get()
        with client.lock("report:8"):
            build_report.delay(8).get()  # skipped
        send_newsletter.delay().get(propagate=False)
        assert flush_outcome_signals(), "outcome signals still queued after 5 s"
        heard = next_outcomes(subscription, 3)
        assert next_outcomes(subscription, 1, timeout_s=0.2) == [], "heartbeat emitted"

    assert [channel for channel, _ in heard] == [
        "celery.succeeded.outcome_signals.build_report",
        "celery.skipped.outcome_signals.build_report",
        "celery.failed.outcome_signals.send_newsletter",
    ], heard
    payload = heard[0][1]
    assert set(payload) == {
        "task_id",
        "task_name",
        "outcome",
        "runtime_s",
        "worker",
        "retries",
        "exception",
        "keys",
    }
    assert payload["keys"] == ["report:7"]
    assert payload["retries"] == 0
    assert heard[2][1]["exception"] == "ConnectionRefusedError"
    assert heard[2][1]["keys"] == []
    print("outcome_signals: ok")
