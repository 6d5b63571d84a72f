"""The folder broker: a consumer sees a message whole or not at all."""

import queue

import pytest
from kombu import Connection

from dflock_integrations.testing.filesystem_broker import TRANSPORT, filesystem_broker


@pytest.fixture
def channel(tmp_path):
    conf = filesystem_broker(tmp_path / "broker")
    with Connection(
        conf["broker_url"],
        transport=conf["broker_transport"],
        transport_options=conf["broker_transport_options"],
    ) as connection:
        yield connection.default_channel, tmp_path / "broker" / "messages"


def test_a_message_goes_through_whole(channel):
    chan, _ = channel
    chan._put("jobs", {"body": "x" * 10_000})
    assert chan._get("jobs") == {"body": "x" * 10_000}


def test_a_message_still_being_written_is_never_taken(channel):
    """kombu's own transport creates the file before writing it: a consumer could take it
    empty and the worker would stop on the JSON error. Ours writes under a name consumers
    skip and renames it into place."""
    chan, messages = channel
    (messages / "1_0000.jobs.msg.partial").write_bytes(b"")  # as if a writer were midway
    with pytest.raises(queue.Empty):
        chan._get("jobs")
    chan._put("jobs", {"n": 1})
    assert chan._get("jobs") == {"n": 1}
    assert [p.name for p in messages.iterdir()] == ["1_0000.jobs.msg.partial"]


def test_celery_gets_the_transport_from_the_settings(tmp_path):
    conf = filesystem_broker(tmp_path / "b")
    assert conf["broker_transport"] == TRANSPORT
    assert {p.name for p in (tmp_path / "b").iterdir()} == {
        "messages",
        "processed",
        "control",
        "results",
    }
