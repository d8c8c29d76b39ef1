"""The demo logins reach what the README says each role reaches."""

import pytest
from django.core.management import call_command

from cases.management.commands.demo import DEMO_PASSWORD

SCHEDULES = "/admin/django_q/schedule/"
ADD_API_CLIENT = "/admin/cases/apiclient/add/"
CASES = "/admin/cases/case/"


@pytest.fixture
def demo_users(db):
    call_command("demo", setup_only=True, verbosity=0)


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("admin", {SCHEDULES: 200, ADD_API_CLIENT: 200, CASES: 403}),
        ("officer", {SCHEDULES: 403, ADD_API_CLIENT: 403, CASES: 200}),
        ("auditor", {SCHEDULES: 403, ADD_API_CLIENT: 403, CASES: 200}),
    ],
)
def test_each_demo_login_reaches_what_the_readme_says(client, demo_users, username, expected):
    assert client.login(username=username, password=DEMO_PASSWORD)
    assert {url: client.get(url).status_code for url in expected} == expected


def test_the_administrator_creates_an_api_client_in_the_admin(client, demo_users):
    client.login(username="admin", password=DEMO_PASSWORD)
    response = client.post(
        ADD_API_CLIENT, {"name": "Ticketing", "scopes": ["cases:read"], "is_active": "on"},
        follow=True,
    )
    assert response.status_code == 200
    assert "API key for this client" in response.content.decode()


def test_the_administrator_is_no_superuser(demo_users):
    from django.contrib.auth.models import User

    admin = User.objects.get(username="admin")
    assert not admin.is_superuser
    assert not admin.has_perm("cases.view_case")
