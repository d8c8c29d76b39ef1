"""Sessions end after SESSION_IDLE_MINUTES without a request and SESSION_MAX_HOURS after sign-in,
with the clock moved (time-machine), on every page type; cookies are secure outside DEBUG."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def signed_in(client, officer):
    with time_machine.travel(START, tick=False) as clock:
        client.force_login(officer)
        assert client.get(reverse("admin:index")).status_code == 200
        yield client, clock


def _signed_out(response) -> bool:
    return response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    "url", ["/admin/", "/admin/cases/case/", "/admin/cases/auditevent/", "/admin/cases/message/"]
)
def test_idle_for_longer_than_the_limit_signs_out(signed_in, settings, url):
    client, clock = signed_in
    settings.SESSION_IDLE_MINUTES = 30

    clock.shift(dt.timedelta(minutes=29))
    assert client.get(url).status_code == 200
    clock.shift(dt.timedelta(minutes=29))  # 58 minutes in, but active 29 minutes ago
    assert client.get(url).status_code == 200
    clock.shift(dt.timedelta(minutes=31))
    assert _signed_out(client.get(url))
    assert _signed_out(client.get(url))  # and it stays so


def test_activity_does_not_stretch_the_absolute_lifetime(signed_in, settings):
    client, clock = signed_in
    settings.SESSION_IDLE_MINUTES, settings.SESSION_MAX_HOURS = 30, 12

    for _ in range(12 * 3 - 1):  # a request every 20 minutes, for 11 h 40 min
        clock.shift(dt.timedelta(minutes=20))
        assert client.get("/admin/").status_code == 200
    clock.shift(dt.timedelta(minutes=21))  # 12 h 1 min after signing in
    assert _signed_out(client.get("/admin/"))


def test_the_sign_in_page_says_why_after_an_idle_sign_out(signed_in, settings):
    client, clock = signed_in
    settings.SESSION_IDLE_MINUTES = 30
    clock.shift(dt.timedelta(minutes=31))

    page = client.get("/admin/", follow=True).content.decode()

    assert "signed out after 30 minutes without activity" in page


def test_the_session_cookie_dies_with_the_lifetime(settings):
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_MAX_HOURS * 3600
    assert settings.SESSION_COOKIE_HTTPONLY
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
