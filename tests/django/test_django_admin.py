"""The admin status page: staff only, read only, linked from the admin index."""

import pytest

from dflock_integrations.django import lock, semaphore

PAGE = "/admin/dflock/status/"


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    return client


def test_admin_index_links_to_the_page(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert f'href="{PAGE}"' in response.content.decode()


@pytest.mark.dflock_compat("1.10", "2.1")
def test_page_shows_held_locks_and_semaphores(admin_client, dflock_site):
    prefix = dflock_site["KEY_PREFIX"]
    waiter = lock("invoice:77")
    with lock("invoice:77"), semaphore("exports", limit=4):
        assert waiter.enqueue() is False  # queued behind the holder
        try:
            response = admin_client.get(PAGE)
        finally:
            waiter.release()  # withdraws from the queue
    assert response.status_code == 200
    page = " ".join(response.content.decode().split())
    assert (
        f'<td><code>{prefix}invoice:77</code></td><td>lock</td> <td class="num">1/1</td>'
        '<td class="num">1</td>'  # one waiter
    ) in page
    assert (
        f'<td><code>{prefix}exports</code></td><td>semaphore</td> <td class="num">1/4</td>'
    ) in page
    assert "Lock server status" in page


def test_page_after_release_shows_the_key_idle(admin_client, dflock_site):
    with lock("invoice:78"):
        pass
    page = admin_client.get(PAGE).content.decode()
    held, _, _ = page.partition("Idle keys")
    assert f"{dflock_site['KEY_PREFIX']}invoice:78" not in held


def test_page_refreshes_itself_every_5_seconds_by_default(admin_client):
    page = admin_client.get(PAGE).content.decode()
    assert (
        '<div id="dflock-live" data-refresh="5" data-fragment-url="?fragment=1&amp;refresh=5">'
        in page
    )
    assert 'dflock/status.js" defer></script>' in page
    # Without scripts, the whole page reloads instead.
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page


@pytest.mark.parametrize(("asked", "every"), [("12", 12), ("-1", 5), ("x", 5), ("99999", 5)])
def test_page_refresh_interval(admin_client, asked, every):
    page = admin_client.get(PAGE, {"refresh": asked}).content.decode()
    assert f'data-refresh="{every}"' in page
    assert f'<meta http-equiv="refresh" content="{every}">' in page


def test_page_refresh_can_be_stopped(admin_client):
    page = admin_client.get(PAGE, {"refresh": "0"}).content.decode()
    assert 'http-equiv="refresh"' not in page
    assert "status.js" not in page
    assert 'data-refresh="0"' in page


def test_the_fragment_is_the_live_part_alone(admin_client, dflock_site):
    prefix = dflock_site["KEY_PREFIX"]
    with lock("invoice:90"):
        response = admin_client.get(PAGE, {"fragment": "1"})
    assert response.status_code == 200
    fragment = " ".join(response.content.decode().split())
    assert f"<td><code>{prefix}invoice:90</code></td><td>lock</td>" in fragment
    assert "<html" not in fragment
    assert 'id="dflock-live"' not in fragment  # what goes inside it


def test_the_refresh_script_is_shipped():
    from pathlib import Path

    import dflock_integrations.django as app_package

    script = Path(app_package.__file__).parent / "static" / "dflock" / "status.js"
    text = script.read_text()
    assert "dataset.fragmentUrl" in text and "setTimeout" in text


@pytest.mark.dflock_compat("1.10", "2.1")
def test_the_json_view_gives_the_stats_document(admin_client, dflock_site):
    prefix = dflock_site["KEY_PREFIX"]
    with lock("invoice:91"), semaphore("exports", limit=2):
        response = admin_client.get(PAGE + "json/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document = response.json()
    assert document["schema"] == 1
    (held,) = [e for e in document["locks"] if e["key"] == f"{prefix}invoice:91"]
    assert held["waiters"] == 0
    (slots,) = [e for e in document["semaphores"] if e["key"] == f"{prefix}exports"]
    assert (slots["holders"], slots["limit"]) == (1, 2)
    assert document["unreachable"] == {}


def test_the_json_view_names_an_unreachable_server(
    admin_client, settings, dflock_site, closed_address
):
    settings.DFLOCK = {**dflock_site, "SERVERS": closed_address}
    document = admin_client.get(PAGE + "json/").json()
    assert closed_address in document["unreachable"]


def test_the_json_view_says_when_settings_cannot_work(admin_client, settings):
    settings.DFLOCK = {"LEASE_TTL_S": 0}
    response = admin_client.get(PAGE + "json/")
    assert response.status_code == 503
    assert 'DFLOCK["LEASE_TTL_S"]' in response.json()["error"]


def test_the_json_view_is_for_staff_only(client, db):
    response = client.get(PAGE + "json/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_member_may_see_it(staff_client):
    assert staff_client.get(PAGE).status_code == 200


def test_anonymous_user_is_sent_to_login(client, db):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_non_staff_user_is_sent_to_login(client, django_user_model):
    user = django_user_model.objects.create_user("visitor", password="pw")
    client.force_login(user)
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_nothing_to_add_or_change(admin_client):
    assert admin_client.get("/admin/dflock/status/add/").status_code == 404


def test_unreachable_server_is_shown(admin_client, settings, dflock_site, closed_address):
    settings.DFLOCK = {**dflock_site, "SERVERS": closed_address}
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    assert f"{closed_address} is unreachable" in response.content.decode()


def test_bad_settings_are_shown(admin_client, settings):
    settings.DFLOCK = {"LEASE_TTL_S": 0}
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    assert "DFLOCK[&quot;LEASE_TTL_S&quot;]" in response.content.decode()


def test_the_shipped_migration_matches_the_model(db):
    from django.core.management import call_command

    # Exits non-zero if a project's makemigrations would write one into this package.
    call_command("makemigrations", "dflock", check=True, dry_run=True, verbosity=0)
