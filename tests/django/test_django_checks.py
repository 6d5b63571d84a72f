"""System checks: each id fires for its condition and only then."""

import pytest
from dflock_testsite.settings import MIDDLEWARE
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings


def dflock_messages(**settings):
    with override_settings(**settings):
        return [m for m in run_checks() if m.id.startswith("dflock.")]


def ids(messages):
    return sorted(m.id for m in messages)


def test_the_test_site_passes(dflock_site):
    assert dflock_messages() == []
    call_command("check")  # raises SystemCheckError on any error


def test_e001_invalid_value_names_the_key(dflock_site):
    messages = dflock_messages(DFLOCK={**dflock_site, "LEASE_TTL_S": -1, "SERVERS": "h:port"})
    assert ids(messages) == ["dflock.E001", "dflock.E001"]
    text = " ".join(m.msg for m in messages)
    assert 'DFLOCK["LEASE_TTL_S"]' in text
    assert 'DFLOCK["SERVERS"]' in text
    with (
        override_settings(DFLOCK={**dflock_site, "LEASE_TTL_S": -1}),
        pytest.raises(SystemCheckError, match=r"dflock\.E001"),
    ):
        call_command("check")


def test_e001_dflock_not_a_dict():
    assert ids(dflock_messages(DFLOCK="127.0.0.1:6388")) == ["dflock.E001"]


def test_e001_secret_is_not_echoed(dflock_site):
    messages = dflock_messages(
        DFLOCK={**dflock_site, "AUTH_TOKEN": "hunter2", "AUTH_TOKEN_FILE": "/nonexistent"}
    )
    assert "dflock.E001" in ids(messages)
    assert all("hunter2" not in m.msg for m in messages)


def test_e002_unknown_key_suggests_the_right_one(dflock_site):
    messages = dflock_messages(DFLOCK={**dflock_site, "SERVRES": "a:1", "lease_ttl_s": 3})
    assert ids(messages) == ["dflock.E002", "dflock.E002"]
    hints = sorted(m.hint for m in messages)
    assert hints == ['Did you mean "LEASE_TTL_S"?', 'Did you mean "SERVERS"?']


def test_e003_bad_rule(dflock_site):
    rules = [{"path": "/orders/{id}/", "key": "order:{order_id}"}]
    messages = dflock_messages(DFLOCK={**dflock_site, "RULES": rules})
    assert ids(messages) == ["dflock.E003"]
    assert 'DFLOCK["RULES"][0]' in messages[0].msg


def test_e003_a_rule_of_two_kinds(dflock_site):
    rules = [{"path": "/api/{user}/", "key": "api:{user}", "rate": "5/s", "limit": 2}]
    messages = dflock_messages(DFLOCK={**dflock_site, "RULES": rules})
    assert ids(messages) == ["dflock.E003"]
    assert "limit= and rate= cannot be combined" in messages[0].msg
    assert '"rate": "5/s" for a rate limit' in messages[0].hint


def test_e004_view_key_needs_a_name_the_url_does_not_capture():
    messages = dflock_messages(ROOT_URLCONF="dflock_testsite.bad_urls")
    assert ids(messages) == ["dflock.E004", "dflock.E004"]
    text = " ".join(m.msg for m in messages)
    assert "dflock_testsite.views.invoice" in text
    assert "dflock_testsite.views.InvoiceView" in text
    assert "pk" in text


def test_w001_token_in_clear_text_to_a_remote_server(dflock_site):
    remote = {**dflock_site, "SERVERS": "10.9.8.7:6388,127.0.0.1:6388", "AUTH_TOKEN": "t"}
    messages = dflock_messages(DFLOCK=remote)
    assert ids(messages) == ["dflock.W001"]
    assert "10.9.8.7:6388" in messages[0].msg
    assert "127.0.0.1" not in messages[0].msg
    assert dflock_messages(DFLOCK={**remote, "TLS": True}) == []
    loopback = {**remote, "SERVERS": "localhost:6388,[::1]:6388"}
    assert dflock_messages(DFLOCK=loopback) == []


@pytest.mark.parametrize(("lease", "ratio"), [(1, 0.5), (30, 0.99)])
def test_w002_renewal_cannot_keep_up(dflock_site, lease, ratio):
    messages = dflock_messages(DFLOCK={**dflock_site, "LEASE_TTL_S": lease, "RENEW_RATIO": ratio})
    assert ids(messages) == ["dflock.W002"]
    assert dflock_messages(DFLOCK={**dflock_site, "LEASE_TTL_S": 2, "RENEW_RATIO": 0.5}) == []


def test_w003_dflock_missing(settings, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env file
    monkeypatch.delenv("DFLOCK_SERVERS", raising=False)
    del settings.DFLOCK
    messages = [m for m in run_checks() if m.id.startswith("dflock.")]
    assert ids(messages) == ["dflock.W003"]
    assert "127.0.0.1:6388" in messages[0].msg
    monkeypatch.setenv("DFLOCK_SERVERS", "10.0.0.1:6388")
    assert [m for m in run_checks() if m.id.startswith("dflock.")] == []


def test_w004_key_prefix_without_separator(dflock_site):
    messages = dflock_messages(DFLOCK={**dflock_site, "KEY_PREFIX": "shop"})
    assert ids(messages) == ["dflock.W004"]
    assert dflock_messages(DFLOCK={**dflock_site, "KEY_PREFIX": "shop:"}) == []


def test_w005_rules_without_the_middleware(dflock_site):
    without = [m for m in MIDDLEWARE if "dflock" not in m]
    assert ids(dflock_messages(MIDDLEWARE=without)) == ["dflock.W005"]
    assert dflock_messages(MIDDLEWARE=without, DFLOCK={**dflock_site, "RULES": []}) == []
