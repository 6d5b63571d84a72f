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


def test_page_auto_refresh(admin_client):
    page = admin_client.get(PAGE + "?refresh=5").content.decode()
    assert '<meta http-equiv="refresh" content="5">' in page
    page = admin_client.get(PAGE + "?refresh=-1").content.decode()
    assert 'http-equiv="refresh"' not in page


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
