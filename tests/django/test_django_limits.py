"""Multilocks and rate limits in Django: decorators, the mixin and middleware rules.

Against the 1.10 and 2.1 profiles; rates are per minute, so a test never races a period.
"""

import contextlib

import pytest
from django.views import View

from dflock_integrations import LockMode
from dflock_integrations.django import DflockLockMixin, get_async_client, get_client

pytestmark = pytest.mark.dflock_compat("1.10", "2.1")


def assert_refused(response, status, error, retry_after=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == error
    if retry_after is None:
        assert response["Retry-After"] == "1"
    else:
        assert retry_after(int(response["Retry-After"])), response["Retry-After"]


@contextlib.contextmanager
def holding(multilock, mode: LockMode):
    """The test's own hold, its release confirmed, so the next request finds it gone."""
    handle = multilock.acquire(mode, 5)
    try:
        yield handle
    finally:
        handle.release(wait=True)


@contextlib.asynccontextmanager
async def aholding(multilock, mode: LockMode):
    handle = await multilock.acquire(mode, 5)
    try:
        yield handle
    finally:
        await handle.release(wait=True)


def page_lock(name: str):
    return get_client().multilock(f"page:{name}", max_shared=3)


# -- multilocks ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/page/a/", "/cbv/page/a/", "/mw/pages/a/"])
def test_gets_share_and_other_methods_are_kept_out_with_423(client, path):
    with holding(page_lock("a"), LockMode.SHARED):
        assert client.get(path).status_code == 200  # shares with the test's hold
        assert client.head(path).status_code == 200
        assert_refused(client.post(path), 423, "locked")
    with holding(page_lock("a"), LockMode.EXCLUSIVE):
        assert_refused(client.get(path), 423, "locked")
    assert client.post(path).status_code == 200
    assert page_lock("a").mode() is None  # every request gave its hold back


async def test_async_views_share_and_exclude(async_client):
    doc = get_async_client().multilock("page:b", max_shared=3)
    async with aholding(doc, LockMode.SHARED):
        assert (await async_client.get("/apage/b/")).status_code == 200
        assert_refused(await async_client.delete("/apage/b/"), 423, "locked")
    async with aholding(doc, LockMode.EXCLUSIVE):
        assert_refused(await async_client.get("/apage/b/"), 423, "locked")
    assert (await async_client.put("/apage/b/")).status_code == 200


# -- rate limits --------------------------------------------------------------------------


def within_the_period(seconds: int) -> bool:
    return 1 <= seconds <= 60


@pytest.mark.parametrize(
    ("path", "budget"), [("/quota/a/", 3), ("/cbv/quota/a/", 2), ("/mw/quota/a/", 2)]
)
def test_over_budget_answers_429_with_retry_after(client, path, budget):
    for _ in range(budget):
        assert client.get(path).status_code == 200
    refused = client.get(path)
    assert_refused(refused, 429, "rate_limited", retry_after=within_the_period)
    assert client.get(path.replace("/a/", "/b/")).status_code == 200  # a budget of its own


async def test_async_view_over_budget_answers_429(async_client):
    for _ in range(3):
        assert (await async_client.get("/aquota/a/")).status_code == 200
    refused = await async_client.get("/aquota/a/")
    assert_refused(refused, 429, "rate_limited", retry_after=within_the_period)


# -- bad options --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        ({"dflock_rate": "5/s", "dflock_limit": 2}, r"Mixed: limit= and rate= cannot be combined"),
        ({"dflock_mode": "shared"}, r"Mixed: mode= needs max_shared="),
        ({"dflock_max_shared": 0}, r"Mixed: max_shared must be a whole number"),
        ({"dflock_rate": "lots"}, r"Mixed: rate 'lots': expected"),
    ],
)
def test_the_mixin_checks_its_kind_when_the_class_is_defined(attributes, words):
    with pytest.raises(ValueError, match=words):
        type("Mixed", (DflockLockMixin, View), {"dflock_key": "k", **attributes})


def test_decorators_check_their_options_at_import():
    from dflock_integrations.django import dflock_multilock, dflock_rate_limit

    with pytest.raises(ValueError, match="@dflock_multilock: lock mode 'read'"):
        dflock_multilock("k", max_shared=2, mode="read")
    with pytest.raises(ValueError, match="@dflock_rate_limit: lease_ttl_s does not apply"):
        dflock_rate_limit("k", "5/s", lease_ttl_s=2)


def test_a_bad_rule_in_settings_names_the_rule(settings, dflock_site):
    from dflock_integrations.django import conf

    settings.DFLOCK = {
        **dflock_site,
        "RULES": [{"path": "/x/", "key": "x", "rate": "5/s", "max_shared": 2}],
    }
    with pytest.raises(Exception, match=r"rule '/x/': max_shared= and rate= cannot be combined"):
        conf.get_rules()


def test_views_report_metrics_under_their_key_templates():
    from dflock_testsite import views

    assert views.page.dflock_hold.hold.label == "page:{name}"
    assert views.quota.dflock_hold.hold.label == "quota:{name}"
    assert views.PageView._dflock_hold.label == "page:{name}"
