"""A bad DFLOCK stops the process at django.setup(), not at the first locked view."""

import os
import subprocess
import sys
import textwrap

import pytest
from django.test import override_settings

import dflock_integrations.django as dj
from dflock_integrations import ConfigurationError
from dflock_integrations.django import conf

SETUP = """
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "dflock_integrations.django"],
    DFLOCK={dflock!r},
)
django.setup()
print("started")
"""


def setup_with(dflock, **environ):
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DFLOCK_")}
    env.update(environ)
    code = textwrap.dedent(SETUP.format(dflock=dflock))
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_mistyped_key_stops_django_setup_naming_the_key_meant():
    result = setup_with({"SERVRES": "db:6388"})
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert "ImproperlyConfigured" in result.stderr
    assert 'DFLOCK["SERVRES"] is not a dflock setting; did you mean DFLOCK["SERVERS"]?' in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("dflock", "environ", "words"),
    [
        ({"LEASE_TTL_S": 0}, {}, 'DFLOCK["LEASE_TTL_S"]'),
        ({"RULES": [{"path": "orders/", "key": "k"}]}, {}, 'DFLOCK["RULES"][0]'),
        ({}, {"DFLOCK_LEASE_TTL": "3"}, "did you mean DFLOCK_LEASE_TTL_S?"),
    ],
)
def test_a_bad_value_rule_or_variable_stops_django_setup(dflock, environ, words):
    result = setup_with(dflock, **environ)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert words in result.stderr


def test_a_good_setting_starts():
    result = setup_with({"SERVERS": "db:6388", "KEY_PREFIX": "shop."})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


def test_a_management_command_does_not_run_on_a_mistyped_key(tmp_path):
    (tmp_path / "typo_settings.py").write_text(
        'INSTALLED_APPS = ["dflock_integrations.django"]\n'
        'DFLOCK = {"SERVRES": "db:6388"}\n'
        'SECRET_KEY = "x"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DFLOCK_")}
    env.update(DJANGO_SETTINGS_MODULE="typo_settings", PYTHONPATH=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "django", "dflock_stats"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "no locks" not in result.stdout  # it did not quietly ask 127.0.0.1:6388
    assert 'did you mean DFLOCK["SERVERS"]?' in result.stderr


def test_settings_changed_after_start_up_are_checked_when_read():
    with (
        override_settings(DFLOCK={"SERVRES": "db:6388"}),
        pytest.raises(ConfigurationError, match=r'did you mean DFLOCK\["SERVERS"\]'),
    ):
        dj.get_settings()


def test_a_mistyped_variable_is_named_as_a_variable_even_beside_dflock(monkeypatch, dflock_site):
    monkeypatch.setenv("DFLOCK_SERVER", "db:6388")
    conf.clear_cache()  # as after any change of DFLOCK_* variables
    with pytest.raises(ConfigurationError) as caught:
        dj.get_settings()  # DFLOCK sets SERVERS, the variable is a typo all the same
    assert "DFLOCK_SERVER: not a dflock setting" in str(caught.value)
    assert "did you mean DFLOCK_SERVERS?" in str(caught.value)
