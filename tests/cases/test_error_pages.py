"""What a role cannot use is hidden; refusals get a styled page and one log line."""

import logging

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.views.defaults import server_error

from cases.models import Case, ResultFile


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def attach_result(case: Case) -> ResultFile:
    result = ResultFile(
        case=case, name="adobe-access.zip", size=4, sha256="0" * 64,
        purge_after=timezone.now() + timezone.timedelta(days=90),
    )
    result.file.save("adobe-access.zip", ContentFile(b"PK\x03\x04"), save=False)
    result.save()
    return result


def download_url(result: ResultFile) -> str:
    return reverse("admin:cases_case_result_download", args=[result.case_id, result.pk])


def test_auditor_sees_results_without_a_download_link(client, auditor, make_case):
    case = make_case()
    result = attach_result(case)
    client.force_login(auditor)
    page = client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    assert "adobe-access.zip" in page  # the result is listed...
    assert download_url(result) not in page  # ...with no link the role cannot follow
    assert ">Download<" not in page


def test_officer_sees_the_download_link(client, officer, make_case):
    case = make_case()
    result = attach_result(case)
    client.force_login(officer)
    page = client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    assert download_url(result) in page


def test_a_refused_request_is_one_log_line_without_traceback(client, auditor, make_case, caplog):
    result = attach_result(make_case())
    client.force_login(auditor)
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    response = client.get(download_url(result) + "?from=case-page")
    assert response.status_code == 403
    refusals = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(refusals) == 1
    (line,) = refusals
    assert line.exc_info is None
    assert line.getMessage() == (
        f"Forbidden: GET {download_url(result)} user={auditor.pk} "
        "reason=Your role may not download result files."
    )


def test_403_page_is_styled_and_says_what_to_do(client, auditor, make_case):
    result = attach_result(make_case())
    client.force_login(auditor)
    page = client.get(download_url(result)).content.decode()
    assert "<title>Not allowed | Privacy Desk</title>" in page
    assert "Your role may not download result files." in page
    assert f"signed in as <strong>{auditor.username}</strong>" in page
    assert '<a href="/admin/">the officer\'s queue</a>' in page


def test_404_page_is_styled_in_and_outside_the_admin(client, officer):
    client.force_login(officer)
    admin_page = client.get("/admin/cases/case/999999/results/1/download/")
    assert admin_page.status_code == 404
    assert "There is nothing at this address" in admin_page.content.decode()
    assert "No such case." in admin_page.content.decode()
    outside = client.get("/no-such-page/").content.decode()
    assert "There is nothing at this address" in outside
    assert 'href="/admin/"' not in outside.split("<main>")[1]  # no officers' link for others


def test_500_page_renders_with_no_context(rf):
    response = server_error(rf.get("/portal/anything/"))  # renders 500.html with no context
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_csrf_refusal_gets_the_styled_page(db):
    response = Client(enforce_csrf_checks=True).post(reverse("admin:login"), {"username": "x"})
    assert response.status_code == 403
    assert "This form could not be accepted" in response.content.decode()
