"""The subject portal: pages for every token state, headers, CSRF without a referrer, limits."""

import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from cases import services, verification
from cases.audit import Actor
from cases.choices import CaseStatus
from cases.models import AuditEvent, Case, PortalToken

OFFICER = Actor("user", "7", "olivia")
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@pytest.fixture(autouse=True)
def _portal(settings):
    settings.PUBLIC_BASE_URL = "http://testserver"
    settings.PORTAL_ATTEMPTS_PER_MINUTE = 50
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def waiting(make_case) -> tuple[Case, str]:
    """A new case whose subject was emailed a link, and the link's path."""
    case = make_case()
    link = verification.send_link(case, actor=OFFICER)
    return case, link.removeprefix("http://testserver")


def status_of(case: Case) -> str:
    return Case.objects.get(pk=case.pk).status


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def assert_plain_page(response) -> None:
    for name, value in HEADERS.items():
        assert response[name] == value, name
    html = response.content.decode()
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href|action)=["']?(https?:)?//""", html)


def test_the_portal_home_explains_links_come_by_email(client, db):
    response = client.get("/portal/")

    assert response.status_code == 200
    assert b"personal link in an email" in response.content
    assert_plain_page(response)


def test_opening_the_link_shows_confirm_and_verifies_nothing(client, waiting):
    case, path = waiting

    response = client.get(path)

    assert response.status_code == 200
    assert b'<button type="submit" class="pd-button">Confirm</button>' in response.content
    assert_plain_page(response)
    assert status_of(case) == CaseStatus.NEW
    assert AuditEvent.objects.filter(case=case, action="portal.link_opened").count() == 1
    # The page names neither the reference nor the subject.
    assert case.reference.encode() not in response.content
    assert b"lovelace" not in response.content.lower()


def test_head_and_other_methods_never_verify(client, waiting):
    case, path = waiting

    assert client.head(path).status_code in (200, 405)
    assert client.put(path).status_code == 405
    assert status_of(case) == CaseStatus.NEW


def test_pressing_confirm_verifies(client, waiting):
    case, path = waiting

    response = client.post(path)

    assert response.status_code == 200
    assert b"your request is confirmed" in response.content
    assert_plain_page(response)
    assert status_of(case) == CaseStatus.VERIFIED


def test_confirm_works_with_csrf_and_no_referrer(waiting):
    """Browsers send the form with `Origin: null` and no Referer under no-referrer."""
    case, path = waiting
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(path, secure=True)

    response = browser.post(path, {"csrfmiddlewaretoken": csrf_token(page.content.decode())},
                            secure=True, HTTP_ORIGIN="null")

    assert response.status_code == 200
    assert status_of(case) == CaseStatus.VERIFIED


def test_confirm_without_the_csrf_token_is_refused(waiting):
    case, path = waiting
    browser = Client(enforce_csrf_checks=True)
    browser.get(path)

    response = browser.post(path, HTTP_ORIGIN="null")

    assert response.status_code == 403
    assert response["Content-Security-Policy"] == HEADERS["Content-Security-Policy"]
    assert status_of(case) == CaseStatus.NEW


def test_confirm_from_another_site_is_refused(waiting):
    case, path = waiting
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(path)

    response = browser.post(path, {"csrfmiddlewaretoken": csrf_token(page.content.decode())},
                            HTTP_ORIGIN="https://evil.example")

    assert response.status_code == 403
    assert status_of(case) == CaseStatus.NEW


def test_an_unknown_link_is_404_and_says_nothing_about_any_case(client, db):
    for response in (client.get("/portal/verify/not-a-real-token/"),
                     client.post("/portal/verify/not-a-real-token/")):
        assert response.status_code == 404
        assert b"This link is not recognised" in response.content
        assert_plain_page(response)


def test_a_used_link_is_410(client, waiting):
    _, path = waiting
    client.post(path)

    for response in (client.get(path), client.post(path)):
        assert response.status_code == 410
        assert b"This link has already been used" in response.content
        assert_plain_page(response)


def test_an_expired_link_is_410(client, waiting):
    case, path = waiting
    PortalToken.objects.filter(case=case).update(expires_at=timezone.now())

    response = client.post(path)

    assert response.status_code == 410
    assert b"This link has expired" in response.content
    assert status_of(case) == CaseStatus.NEW
    assert AuditEvent.objects.get(case=case, action="portal.link_refused").details["state"] == (
        "expired"
    )


def test_a_revoked_link_is_410(client, waiting):
    case, path = waiting
    verification.revoke(case, actor=OFFICER)

    response = client.get(path)

    assert response.status_code == 410
    assert b"This link no longer works" in response.content


def test_a_link_to_a_rejected_case_is_410_not_500(client, waiting):
    case, path = waiting
    services.reject(case, actor=OFFICER, reason="Duplicate of an earlier request",
                    told_out_of_band="Told by phone")

    response = client.post(path)

    assert response.status_code == 410
    assert status_of(case) == CaseStatus.REJECTED


def test_too_many_attempts_from_one_address_get_429(client, db, settings):
    settings.PORTAL_ATTEMPTS_PER_MINUTE = 3

    codes = [client.get(f"/portal/verify/guess-{n}/").status_code for n in range(4)]

    assert codes == [404, 404, 404, 429]
    limited = client.get("/portal/verify/guess-9/")
    assert limited["Retry-After"] == "60"
    assert b"Too many attempts" in limited.content
    assert_plain_page(limited)


def test_too_many_attempts_on_one_link_get_429_from_any_address(waiting, settings):
    case, path = waiting
    settings.PORTAL_ATTEMPTS_PER_MINUTE = 2

    codes = [Client(REMOTE_ADDR=f"198.51.100.{n}").get(path).status_code for n in range(3)]
    confirm = Client(REMOTE_ADDR="198.51.100.9").post(path)

    assert codes == [200, 200, 429]
    assert confirm.status_code == 429
    assert status_of(case) == CaseStatus.NEW


def test_every_portal_response_carries_the_headers_even_django_404(client, db):
    response = client.get("/portal/no/such/page/")

    assert response.status_code == 404
    for name, value in HEADERS.items():
        assert response[name] == value


def test_the_admin_keeps_its_own_headers(client, db):
    response = client.get("/admin/login/")

    # The admin's policy (django-csp, tests/security/test_headers.py), not the portal's.
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_stylesheet_is_served_from_static(client, db):
    html = client.get("/portal/").content.decode()

    assert re.search(r'<link rel="stylesheet" href="/static/cases/portal\.css">', html)
