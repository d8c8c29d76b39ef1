"""In a real browser: an email search never enters a URL; an auditor sees no unusable link."""

import re
from urllib.parse import quote, quote_plus

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from cases.models import ResultFile
from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
EMAIL = "jonas.becker@example.net"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_officer_searches_by_email_without_it_entering_any_url(
    browser_page, live_server, officer, make_case
):
    make_case()
    jonas = make_case(subject_email=EMAIL, subject_name="Jonas Becker")
    page = browser_page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    log_in(page, live_server, officer.username)

    page.goto(f"{live_server.url}/admin/cases/case/")
    page.fill("#searchbar", EMAIL)
    page.press("#searchbar", "Enter")
    page.wait_for_selector("text=Cases of the subject you searched for (1)")
    assert page.locator("#result_list tbody tr").count() == 1
    page.click(f"#result_list >> text={jonas.reference}")
    page.wait_for_url(re.compile(rf"/admin/cases/case/{jonas.pk}/change/"))

    assert page.input_value("#id_subject-0-email") == EMAIL  # the case page itself shows it...
    for url in requested:  # ...but no address the browser asked for ever held it
        for form in (EMAIL, quote(EMAIL), quote_plus(EMAIL), quote(EMAIL, safe="")):
            assert form not in url


def test_auditor_sees_no_download_link_and_a_styled_403(
    browser_page, live_server, auditor, make_case
):
    case = make_case()
    result = ResultFile(case=case, name="adobe-access.zip", size=4, sha256="0" * 64,
                        purge_after=timezone.now() + timezone.timedelta(days=90))
    result.file.save("adobe-access.zip", ContentFile(b"PK\x03\x04"), save=False)
    result.save()
    page = browser_page
    log_in(page, live_server, auditor.username)

    page.goto(f"{live_server.url}{reverse('admin:cases_case_change', args=[case.pk])}")
    assert page.locator("#results-group td.field-name").inner_text() == "adobe-access.zip"
    assert page.locator("#results-group a[href*='/results/']").count() == 0
    assert page.locator("a", has_text=re.compile(r"^Download$")).count() == 0

    url = reverse("admin:cases_case_result_download", args=[case.pk, result.pk])
    response = page.goto(f"{live_server.url}{url}")
    assert response.status == 403
    assert page.title() == "Not allowed | Privacy Desk"
    assert page.locator("h1").inner_text() == "Your role does not allow this"
    assert page.locator("header").evaluate("e => getComputedStyle(e).backgroundColor") != (
        "rgba(0, 0, 0, 0)"
    )
    page.click("text=the officer's queue")
    page.wait_for_url(f"{live_server.url}/admin/")
