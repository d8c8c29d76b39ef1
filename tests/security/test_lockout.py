"""Brute-force protection: django-axes locks a username + address pair out after
AXES_FAILURE_LIMIT failures (audited without the name), an Administrator unlocks it; wrong API
keys from one address are answered 429 after API_KEY_FAILURES_PER_MINUTE."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from cases.api.clients import create_client
from cases.audit import Actor
from cases.groups import ADMINISTRATOR
from cases.models import ApiClient, AuditEvent
from cases.security import username_hash

LOGIN = "/admin/login/"
PASSWORD = "correct horse battery"  # conftest's officer


def _sign_in(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"},
                       REMOTE_ADDR=address)


@pytest.fixture
def locked_out(client, officer, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for _ in range(4):
        assert _sign_in(client, "olivia", "wrong").status_code == 200  # the form again
    assert _sign_in(client, "olivia", "wrong").status_code == 429  # the fifth locks
    return officer


def test_the_limit_locks_the_user_out_even_with_the_right_password(client, locked_out):
    response = _sign_in(client, "olivia", PASSWORD)

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_fewer_failures_than_the_limit_do_not_lock(client, officer, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for _ in range(4):
        _sign_in(client, "olivia", "wrong")

    assert _sign_in(client, "olivia", PASSWORD).status_code == 302


def test_the_lock_is_per_user_and_address(client, locked_out):
    assert _sign_in(Client(), "olivia", PASSWORD, address="10.0.0.2").status_code == 302


def test_the_lockout_is_audited_with_the_user_id_and_a_hash_only(locked_out):
    event = AuditEvent.objects.get(action="auth.locked_out")

    assert event.details == {"username_hash": username_hash("olivia"), "user_id": locked_out.pk}
    assert "olivia" not in str(event.details) + event.actor_label + event.object_id
    assert "10.0.0.1" not in str(event.details)


def test_an_unknown_username_is_locked_and_audited_without_a_user(client, settings, db):
    settings.AXES_FAILURE_LIMIT = 2
    assert [_sign_in(client, "someone@example.org", "guess").status_code
            for _ in range(2)] == [200, 429]

    event = AuditEvent.objects.get(action="auth.locked_out")
    assert event.details == {"username_hash": username_hash("someone@example.org"),
                             "user_id": None}


def test_an_administrator_unlocks_from_the_admin(client, locked_out):
    admin_user = User.objects.create_user("root", is_staff=True)
    admin_user.groups.add(Group.objects.get(name=ADMINISTRATOR))
    attempt = AccessAttempt.objects.get(username="olivia")
    administrator = Client()
    administrator.force_login(admin_user)

    changelist = administrator.get(reverse("admin:axes_accessattempt_changelist"))
    assert changelist.status_code == 200
    assert "olivia" in changelist.content.decode()
    delete = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
    assert administrator.post(delete, {"post": "yes"}).status_code == 302

    assert _sign_in(client, "olivia", PASSWORD).status_code == 302


def test_an_officer_cannot_unlock(client, locked_out):
    client.force_login(locked_out)

    assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403


# --- API keys ----------------------------------------------------------------------------------


@pytest.fixture
def api_key(db):
    cache.clear()
    client = ApiClient(name="Ticketing", scopes=["cases:read"])
    yield create_client(client, actor=Actor.system("tests")).key
    cache.clear()


def _api(key: str, address: str = "10.0.0.1"):
    return Client().get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Api-Key {key}",
                        REMOTE_ADDR=address)


def test_wrong_api_keys_from_one_address_get_429_with_retry_after(api_key, settings):
    settings.API_KEY_FAILURES_PER_MINUTE = 3
    assert [_api("wrong").status_code for _ in range(3)] == [401, 401, 401]

    refused = _api("wrong")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    # The right key from that address waits too (else guessing just continues); others don't.
    assert _api(api_key).status_code == 429
    assert _api(api_key, address="10.0.0.2").status_code == 200


def test_good_keys_do_not_count_towards_the_limit(api_key, settings):
    settings.API_KEY_FAILURES_PER_MINUTE = 2

    assert {_api(api_key).status_code for _ in range(5)} == {200}
