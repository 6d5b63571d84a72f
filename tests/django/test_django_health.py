"""The django-health-check check through its own view: OK while every server answers,
unavailable within the timeout once one is frozen (SIGSTOP) or killed."""

import time

import pytest

pytest.importorskip("health_check")

pytestmark = pytest.mark.urls("health_urls")

SLACK_S = 1.0


@pytest.fixture
def two_servers(settings, dflock_site, dflock_server_process):
    first, second = dflock_server_process(), dflock_server_process()
    settings.DFLOCK = {
        **dflock_site,
        "SERVERS": [first.address, second.address],
        "HEALTH_TIMEOUT_S": 0.5,
    }
    return first, second


def health(client, url="/health/"):
    started = time.monotonic()
    response = client.get(url, {"format": "json"})
    return response, time.monotonic() - started


def test_ok_while_every_server_answers(client, two_servers):
    response, _ = health(client)
    assert response.status_code == 200
    assert response.json() == {"Dflock(timeout_s=None)": "OK"}


def test_unavailable_within_the_timeout_when_a_server_is_frozen(client, two_servers):
    first, _ = two_servers
    first.freeze()
    response, took = health(client)
    assert response.status_code == 500  # django-health-check's status for a failed check
    expected = f"Unavailable: dflockd at {first.address} did not answer within 0.5 s"
    assert response.json() == {"Dflock(timeout_s=None)": expected}
    assert took < 0.5 + SLACK_S
    first.thaw()
    assert health(client)[0].status_code == 200


def test_unavailable_at_once_when_a_server_is_killed(client, two_servers):
    _, second = two_servers
    second.kill()
    response, took = health(client)
    assert response.status_code == 500
    assert (
        f"cannot connect to dflockd at {second.address}"
        in response.json()["Dflock(timeout_s=None)"]
    )
    assert took < SLACK_S


def test_a_timeout_of_the_check_s_own(client, two_servers):
    first, _ = two_servers
    first.freeze()
    response, took = health(client, "/health-fast/")
    assert "did not answer within 0.4 s" in response.json()["Dflock(timeout_s=0.4)"]
    assert took < 0.4 + SLACK_S


def test_settings_that_cannot_work_are_unavailable(client, settings, dflock_site):
    settings.DFLOCK = {**dflock_site, "LEASE_TTL_S": 0}
    response, _ = health(client)
    assert response.status_code == 500
    message = response.json()["Dflock(timeout_s=None)"]
    assert message.startswith("Unavailable: dflock settings cannot work")
    assert 'DFLOCK["LEASE_TTL_S"]' in message
