"""Outcome signals on a broker that is down: logged, never raised into the task."""

import logging

from dflock_integrations.celery import flush_outcome_signals
from dflock_integrations.celery._sender import sender
from dflock_integrations.client import SyncDflockClient

import brokers


def test_an_unreachable_broker_is_logged_and_the_task_untouched(dflock_settings, caplog):
    url = f"redis://:hidden@127.0.0.1:{brokers.free_port()}/0"
    caplog.set_level(logging.WARNING, logger="dflock_integrations.celery")
    with SyncDflockClient(dflock_settings.replace(signals_url=url)) as client:
        sender.submit(client, "celery.succeeded.t", {"task_id": "t1", "outcome": "succeeded"})
        assert flush_outcome_signals(10)
    (record,) = [r for r in caplog.records if "t1" in r.getMessage()]
    assert "not sent" in record.getMessage()
    assert "unreachable" in record.getMessage()
    assert "hidden" not in record.getMessage()
