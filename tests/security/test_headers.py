"""Content-Security-Policy and Referrer-Policy on every page type; no inline script anywhere
without the request's nonce; the CSRF check that no-referrer needs."""

import base64
import hashlib
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.http import HttpRequest
from django.test import Client
from django.urls import path, reverse

from config.urls import urlpatterns as site_urls

ROOT = Path(__file__).resolve().parents[2]


def boom(request: HttpRequest):
    raise RuntimeError("a bug")


# This module doubles as a URLconf (for the 500 page): the site's URLs plus one that fails.
urlpatterns = [*site_urls, path("boom/", boom)]
handler403 = "cases.error_pages.permission_denied"
handler404 = "cases.api.views.not_found"


def _directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parts = (part.strip().split() for part in policy.split(";") if part.strip())
    return {words[0]: words[1:] for words in parts}


def _assert_strict(response) -> None:
    directives = _directives(response)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, scripts
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives.get("object-src", ["'none'"]) == ["'none'"]
    # Any inline <script> carries this response's nonce (JSON data blocks are not scripts).
    html = response.content.decode(errors="replace") if not response.streaming else ""
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    for tag in re.findall(r"<script\b[^>]*>", html):
        if "src=" in tag or "application/json" in tag:
            continue
        assert nonce and f'nonce="{nonce.group(1)}"' in tag, tag
    assert not re.search(r"\son[a-z]+=\"", html), "inline event handler"
    assert " style=\"" not in html, "inline style attribute"


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


@pytest.fixture
def auditor_client(client, auditor):
    client.force_login(auditor)
    return client


def _admin_pages(case) -> dict[str, str]:
    return {
        "admin index": reverse("admin:index"),
        "changelist": reverse("admin:cases_case_changelist"),
        "change page": reverse("admin:cases_case_change", args=[case.pk]),
        "step page": reverse("admin:cases_case_step_extend", args=[case.pk]),
        "audit list": reverse("admin:cases_auditevent_changelist"),
        "intake form": reverse("admin:cases_case_add"),
        "metrics": reverse("admin:cases_case_metrics"),
        "404 page": "/no-such-page/",
    }


@pytest.mark.parametrize(
    "page",
    ["admin index", "changelist", "change page", "step page", "audit list", "intake form",
     "metrics", "404 page"],
)
def test_admin_pages_carry_a_strict_policy_and_no_referrer(page, officer_client, make_case):
    case = make_case()
    response = officer_client.get(_admin_pages(case)[page])

    assert response.status_code in (200, 404)
    _assert_strict(response)
    assert response["Referrer-Policy"] == "no-referrer"
    assert _directives(response)["style-src"][0] == "'self'"


def test_the_sign_in_page_and_the_403_page_carry_it_too(client, auditor_client, make_case):
    login = Client().get("/admin/login/")
    case = make_case()
    refused = auditor_client.get(reverse("admin:cases_case_step_extend", args=[case.pk]))

    assert refused.status_code == 403
    for response in (login, refused):
        _assert_strict(response)
        assert response["Referrer-Policy"] == "no-referrer"


def test_the_csrf_failure_page_carries_it(db):
    response = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "x"})

    assert response.status_code == 403
    _assert_strict(response)


@pytest.mark.urls(__name__)
def test_the_500_page_carries_it(db):
    response = Client(raise_request_exception=False).get("/boom/")

    assert response.status_code == 500
    _assert_strict(response)


def test_the_error_pages_inline_style_is_allowed_by_its_hash():
    """templates/errors/page.html keeps one <style> block so a 500 renders with nothing else
    working; the policy allows exactly that block (edit the CSS, update the hash)."""
    template = (ROOT / "templates" / "errors" / "page.html").read_text()
    style = re.search(r"<style>(.*?)</style>", template, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()

    assert f"'sha256-{digest}'" == django_settings.ERROR_PAGE_STYLE_HASH


def test_api_docs_load_their_init_script_from_a_url(client, db):
    response = client.get("/api/v1/docs/")

    assert response.status_code == 200
    _assert_strict(response)
    script = re.search(r'<script src="([^"]*script=[^"]*)"', response.content.decode())
    assert script, "Swagger UI's init script is not served from its own URL"
    init = client.get(script.group(1).replace("&amp;", "&"))
    assert init.status_code == 200
    assert "SwaggerUIBundle" in init.content.decode()
    assert "<style>" not in response.content.decode()


def test_the_portal_keeps_its_own_stricter_policy(client, db):
    response = client.get("/portal/")

    directives = _directives(response)
    assert directives["default-src"] == ["'none'"]
    assert "script-src" not in directives  # no script at all: default-src 'none' applies
    assert response["Referrer-Policy"] == "no-referrer"


def test_django_csrf_middleware_is_in_place_as_the_no_referrer_subclass():
    # security.W003 is silenced in settings because of this substitution: check it held.
    assert "cases.security.CsrfViewMiddleware" in django_settings.MIDDLEWARE
    assert "security.W003" in django_settings.SILENCED_SYSTEM_CHECKS


def test_a_post_with_origin_null_passes_with_the_token_and_fails_without(client, officer):
    """What a browser sends under no-referrer: `Origin: null`, no Referer."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(officer)
    url = reverse("admin:cases_case_add")
    browser.get(url)
    token = browser.cookies["csrftoken"].value

    ok = browser.post(url, {"csrfmiddlewaretoken": token}, HTTP_ORIGIN="null")
    no_token = browser.post(url, {}, HTTP_ORIGIN="null")
    foreign = browser.post(url, {"csrfmiddlewaretoken": token},
                           HTTP_ORIGIN="https://evil.example")

    assert ok.status_code == 200  # the intake form again, with its field errors
    assert no_token.status_code == 403
    assert foreign.status_code == 403
