"""Decorators, the CBV mixin and the middleware through Django's test clients."""

import pytest

from dflock_integrations.django import alock, asemaphore, lock, semaphore


def assert_refused(response, status, error, retry_after="1"):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == retry_after
    assert response.json()["error"] == error


# -- function views, sync -------------------------------------------------------------


def test_lock_is_held_while_the_view_runs(client):
    response = client.get("/invoice/7/")
    assert response.status_code == 200
    assert response.json() == {"pk": 7, "held": True}


def test_locked_key_answers_423_with_retry_after(client):
    with lock("invoice:7"):
        response = client.get("/invoice/7/")
        assert_refused(response, 423, "locked", retry_after="7")
        assert response.json()["key"] == "invoice:7"
        assert client.get("/invoice/8/").status_code == 200  # another key is free
    assert client.get("/invoice/7/").status_code == 200  # released


def test_full_semaphore_answers_429(client):
    with semaphore("reports", limit=2), semaphore("reports", limit=2):
        response = client.get("/report/")
        assert_refused(response, 429, "too_many_concurrent")
        assert response.json()["limit"] == 2
    with semaphore("reports", limit=2):
        assert client.get("/report/").status_code == 200  # one slot left


def test_unreachable_server_answers_503(client, settings, dflock_site, closed_address):
    settings.DFLOCK = {**dflock_site, "SERVERS": closed_address}
    response = client.get("/invoice/7/")
    assert_refused(response, 503, "coordination_unavailable", retry_after="7")
    assert closed_address not in response.content.decode()  # internal topology stays inside


def test_view_error_propagates_and_the_lock_is_released(client):
    with pytest.raises(ValueError, match="the view's own error"):
        client.get("/invoice-fails/3/")
    with lock("invoice:3", acquire_timeout_s=0):
        pass  # granted at once: the failed view released it


def test_decorator_checks_its_key_and_options_at_import():
    from dflock_integrations import InvalidKeyError
    from dflock_integrations.django import dflock_lock, dflock_semaphore

    with pytest.raises(InvalidKeyError):
        dflock_lock("invoice {pk}")
    with pytest.raises(ValueError, match="limit"):
        dflock_semaphore("reports", limit=0)
    with pytest.raises(ValueError, match="lease_ttl_s"):
        dflock_lock("invoice:{pk}", lease_ttl_s=0)
    with pytest.raises(TypeError, match="unknown option 'lease_tll_s'"):
        dflock_lock("invoice:{pk}", lease_tll_s=3)


def test_decorated_view_keeps_its_name():
    from dflock_testsite import views

    assert views.guarded.__name__ == "guarded"
    assert views.aguarded.__name__ == "aguarded"


# -- function views, async ------------------------------------------------------------


async def test_async_view_locked_answers_423(async_client):
    async with alock("invoice:9"):
        assert_refused(await async_client.get("/ainvoice/9/"), 423, "locked")
    response = await async_client.get("/ainvoice/9/")
    assert response.status_code == 200
    assert response.json() == {"pk": 9}


async def test_async_view_full_semaphore_answers_429(async_client):
    async with asemaphore("reports", limit=2), asemaphore("reports", limit=2):
        assert_refused(await async_client.get("/areport/"), 429, "too_many_concurrent")
    assert (await async_client.get("/areport/")).status_code == 200


def test_async_view_detected_as_coroutine_function():
    from asgiref.sync import iscoroutinefunction
    from dflock_testsite import views

    assert iscoroutinefunction(views.aguarded)
    assert not iscoroutinefunction(views.guarded)


# -- class-based views ----------------------------------------------------------------


def test_mixin_locks_only_the_listed_methods(client):
    assert client.post("/cbv/invoice/4/").json() == {"pk": 4, "held": True}
    with lock("invoice:4"):
        assert_refused(client.post("/cbv/invoice/4/"), 423, "locked")
        assert client.get("/cbv/invoice/4/").status_code == 200  # GET is not locked


def test_mixin_guarding_get_guards_head_which_runs_the_same_handler(client):
    with lock("receipt:4"):
        assert client.get("/cbv/receipt/4/").status_code == 423
        assert client.head("/cbv/receipt/4/").status_code == 423
    assert client.head("/cbv/receipt/4/").status_code == 200


def test_mixin_semaphore_with_custom_response(client):
    with semaphore("reports", limit=2), semaphore("reports", limit=2):
        response = client.get("/cbv/report/")
        assert response.status_code == 503
        assert response.content == b"busy, retry in 1 s"
    assert client.get("/cbv/report/").content == b"report"


async def test_mixin_async_view(async_client):
    async with alock("invoice:5"):
        assert_refused(await async_client.get("/cbv/ainvoice/5/"), 423, "locked")
    assert (await async_client.get("/cbv/ainvoice/5/")).json() == {"pk": 5}


def test_mixin_checks_its_key_when_the_class_is_defined():
    from django.views import View

    from dflock_integrations import InvalidKeyError
    from dflock_integrations.django import DflockLockMixin

    with pytest.raises(InvalidKeyError):

        class Bad(DflockLockMixin, View):
            dflock_key = "invoice {pk}"

    with pytest.raises(TypeError, match="dflock_methods"):

        class AlsoBad(DflockLockMixin, View):
            dflock_key = "invoice:{pk}"
            dflock_methods = "POST"


# -- middleware -----------------------------------------------------------------------


def test_middleware_rule_takes_the_lock(client):
    assert client.post("/mw/orders/11/").json() == {"order": "11", "held": True}
    assert client.get("/mw/orders/11/").json() == {"order": "11", "held": False}  # POST only


def test_middleware_rule_refuses_while_held(client):
    with lock("order:12"):
        assert_refused(client.post("/mw/orders/12/"), 423, "locked")
        assert client.get("/mw/orders/12/").status_code == 200
        assert client.post("/mw/orders/13/").status_code == 200


def test_middleware_semaphore_rule(client):
    with semaphore("reports", limit=2), semaphore("reports", limit=2):
        assert_refused(client.get("/mw/reports/daily/"), 429, "too_many_concurrent")
    assert client.get("/mw/reports/daily/").status_code == 200


def test_middleware_encodes_path_values_into_the_key(client):
    # A space in the path reaches the key encoded, never as a second protocol token.
    with lock("order:a%20b"):
        assert_refused(client.post("/mw/orders/a%20b/"), 423, "locked")


def test_middleware_rules_follow_override_settings(client, settings, dflock_site):
    settings.DFLOCK = {**dflock_site, "RULES": []}
    with lock("order:14"):
        assert client.post("/mw/orders/14/").status_code == 200


async def test_middleware_async_path(async_client):
    async with alock("order:15"):
        assert_refused(await async_client.post("/mw/aorders/15/"), 423, "locked")
    assert (await async_client.post("/mw/aorders/15/")).status_code == 200


# -- a lease lost while the view runs ---------------------------------------------------


@pytest.mark.dflock_compat("1.10", "2.1")
def test_lost_lease_is_logged_and_the_response_unchanged(
    client, settings, dflock_site, dflock_server_factory, caplog, monkeypatch
):
    import logging
    import threading

    from dflock_testsite import views

    server = dflock_server_factory()
    settings.DFLOCK = {**dflock_site, "SERVERS": [server.address]}
    lost = threading.Event()

    class LossWatcher(logging.Handler):
        def emit(self, record):
            if "lost" in record.getMessage():
                lost.set()

    watcher = LossWatcher()
    logging.getLogger("dflock_integrations").addHandler(watcher)

    def stop_the_server_and_wait_for_the_loss():
        server.stop()  # the next renewal fails, and the lease is marked lost
        assert lost.wait(timeout=10), "the lease was not marked lost"

    monkeypatch.setitem(views.while_held, "hook", stop_the_server_and_wait_for_the_loss)
    try:
        with caplog.at_level(logging.ERROR, logger="dflock_integrations"):
            response = client.get("/lease/1/")
    finally:
        logging.getLogger("dflock_integrations").removeHandler(watcher)
    assert response.status_code == 200
    assert response.content == b"work done"
    assert "lease on 'lease:1' was lost while GET /lease/1/ ran" in caplog.text
    assert "the response was sent unchanged: LockLostError: " in caplog.text  # and why
