"""What fails at import (decorator options, templates, settings) and the public names."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery.app.base import Celery

import dflock_integrations.celery as dflock_celery
from dflock_integrations.celery import (
    close_clients,
    current_lease,
    dflock_semaphore,
    ensure_held,
    get_settings,
    outcome_channel,
    single_instance,
)
from dflock_integrations.errors import ConfigurationError, InvalidKeyError
from dflock_integrations.settings import DflockSettings

HERE = Path(__file__).resolve().parent


@pytest.fixture
def app(dflock_settings):
    app = Celery(f"api{uuid.uuid4().hex[:6]}", set_as_current=False)
    app.conf.update(task_always_eager=True, broker_url="memory://", dflock=dflock_settings)
    yield app
    close_clients()


def test_public_names_are_pinned():
    assert sorted(dflock_celery.__all__) == [
        "OUTCOMES",
        "close_clients",
        "current_lease",
        "current_leases",
        "dflock_multilock",
        "dflock_rate_limit",
        "dflock_semaphore",
        "ensure_held",
        "flush_outcome_signals",
        "get_client",
        "get_settings",
        "install_outcome_signals",
        "install_readiness_probe",
        "is_skipped",
        "outcome_channel",
        "single_instance",
    ]
    assert dflock_celery.OUTCOMES == (
        "succeeded",
        "failed",
        "retried",
        "skipped",
        "lost",
        "revoked",
    )
    assert outcome_channel("failed", "shop.tasks.build") == "celery.failed.shop.tasks.build"


def test_decorator_without_parentheses_fails_at_import(app):
    with pytest.raises(AttributeError, match="without parentheses"):

        @app.task
        @single_instance
        def task():
            pass


def test_template_may_only_name_parameters():
    with pytest.raises(InvalidKeyError, match="'order_id'"):

        @single_instance("order:{order_id}")
        def task(order):
            pass

    @single_instance("order:{anything}")
    def flexible(**kwargs):
        pass


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"on_locked": "block"}, ValueError, "on_locked must be one of"),
        ({"acquire_timeout_s": -1}, ValueError, "acquire_timeout_s"),
        ({"acquire_timeout_s": float("inf")}, ValueError, "acquire_timeout_s"),
        ({"lease_ttl_s": 0}, ValueError, "lease_ttl_s"),
        ({"lease_ttl_s": 1.5}, ValueError, "lease_ttl_s"),
        ({"retry_countdown_s": -0.1}, ValueError, "retry_countdown_s"),
        ({"emit": "yes"}, TypeError, "emit"),
        ({"aquire_timeout_s": 1}, TypeError, "@single_instance: unknown option 'aquire_"),
        ({"key": 42}, InvalidKeyError, "key must be"),
        ({"key": "has space"}, InvalidKeyError, "whitespace"),
        ({"key": "field:{a.b}"}, InvalidKeyError, "plain name"),
    ],
)
def test_bad_options_fail_when_the_decorator_is_built(options, error, match):
    with pytest.raises(error, match=match):
        single_instance(**options)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": 2, "on_full": "wait"}, "on_full must be one of"),
    ],
)
def test_bad_semaphore_options(options, match):
    with pytest.raises(ValueError, match=match):
        dflock_semaphore("slots", **options)


def test_stacked_decorators_need_keys_of_their_own():
    with pytest.raises(ValueError, match="its own key"):

        @dflock_semaphore(limit=2)
        @single_instance()
        def task():
            pass


def test_decorated_function_runs_only_as_its_own_task(app):
    @single_instance("plain")
    def not_a_task():
        pass

    with pytest.raises(TypeError, match="runs only as a Celery task"):
        not_a_task()

    @app.task
    def outer():
        not_a_task()

    with pytest.raises(TypeError, match="must itself be the task"):
        outer.delay().get()


def test_key_function_must_return_a_string(app):
    @app.task
    @single_instance(lambda n: n)
    def task(n):
        pass

    with pytest.raises(InvalidKeyError, match="returned int"):
        task.delay(3).get()


def test_lease_helpers_outside_a_decorated_task():
    with pytest.raises(RuntimeError, match="inside the body"):
        current_lease()
    with pytest.raises(RuntimeError, match="inside the body"):
        ensure_held()


def _app_with(dflock):
    app = Celery(f"conf{uuid.uuid4().hex[:6]}", set_as_current=False)
    app.conf.dflock = dflock
    return app


def test_conf_dict_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("DFLOCK_KEY_PREFIX", "from-env.")
    monkeypatch.setenv("DFLOCK_LEASE_TTL_S", "45")
    settings = get_settings(_app_with({"lease_ttl_s": 12, "servers": "10.0.0.1:7000"}))
    assert settings.lease_ttl_s == 12
    assert str(settings.servers[0]) == "10.0.0.1:7000"
    assert settings.key_prefix == "from-env."  # not in app.conf: the environment's


def test_conf_accepts_settings_and_upper_case_config(monkeypatch):
    given = DflockSettings(key_prefix="given.")
    assert get_settings(_app_with(given)) is given
    app = Celery(f"conf{uuid.uuid4().hex[:6]}", set_as_current=False)
    app.config_from_object({"DFLOCK": {"KEY_PREFIX": "upper."}})
    assert get_settings(app).key_prefix == "upper."


@pytest.mark.parametrize(
    ("dflock", "match"),
    [
        ({"lease_tll_s": 3}, r'app.conf.dflock\["lease_tll_s"\] is not a dflock setting'),
        ({"lease_ttl_s": -1}, r'app.conf.dflock\["lease_ttl_s"\]: .*greater than 0'),
        ("127.0.0.1:6388", "must be a dict"),
    ],
)
def test_bad_conf_names_the_key(dflock, match):
    with pytest.raises(ConfigurationError, match=match):
        get_settings(_app_with(dflock))


def test_settings_are_read_when_used_not_at_import():
    fresh = Celery(f"late{uuid.uuid4().hex[:6]}", set_as_current=False)

    @fresh.task
    @single_instance("late")
    def task():
        pass

    # Decorating read nothing: the configuration may come afterwards.
    fresh.conf.dflock = {"key_prefix": "late."}
    assert get_settings(fresh).key_prefix == "late."


def test_a_worker_with_unusable_settings_refuses_to_start(celery_conf, tmp_path):
    """Bad settings stop the worker at start, not its first decorated task."""
    env = {
        **os.environ,
        "DFLOCK_CELERY_TEST_CONF": json.dumps(celery_conf),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        "DFLOCK_LEASE_TTL_S": "soon",
    }
    command = [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "solo"]
    command += ["-Q", f"never-{uuid.uuid4().hex[:6]}", "--without-gossip", "--without-mingle"]
    run = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 78, run.stderr[-2000:]
    assert "DFLOCK_LEASE_TTL_S" in run.stderr
    assert "Traceback" not in run.stderr
