"""The response link /portal/response/<token>/ in every state: opening is not a download, each
download is counted and audited, the one past the limit, expired, revoked and purged links
answer 410, an unknown one 404, never a 500."""

import datetime as dt
import hashlib

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from cases import responses
from cases.choices import TokenPurpose
from cases.models import AuditEvent, PortalToken, ResponseDownload, ResponsePackage, WebhookDelivery
from tests.cases.test_portal import HEADERS, assert_plain_page, csrf_token


@pytest.fixture(autouse=True)
def _portal(settings):
    settings.PORTAL_ATTEMPTS_PER_MINUTE = 50
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sent(ready_case, system_actor, settings):
    """The case's response, sent with a 3-download link; (package, the link's path)."""
    settings.RESPONSE_MAX_DOWNLOADS = 3
    responses.prepare(ready_case, actor=system_actor)
    package = responses.send(ready_case, actor=system_actor)
    body = ready_case.messages.get(kind="response").body
    link = next(w for w in body.split() if "/portal/response/" in w)
    return package, link.removeprefix("https://desk.example.org")


def download(client: Client, path: str):
    return client.post(path + "download/")


def test_opening_the_page_lists_the_files_and_is_not_a_download(client, sent):
    package, path = sent

    response = client.get(path)

    assert response.status_code == 200
    assert_plain_page(response)
    html = response.content.decode()
    for row in package.manifest:
        assert row["path"] in html and row["sha256"] in html
    assert package.sha256 in html
    assert "Download your answer" in html and "3 more downloads" in html
    assert not ResponseDownload.objects.exists()
    opened = AuditEvent.objects.get(action="portal.link_opened")
    assert opened.details["purpose"] == TokenPurpose.RESPONSE
    # A date in words, never an ambiguous one.
    expires = timezone.localdate(PortalToken.objects.get(purpose="response").expires_at)
    assert f"{expires.day} {expires:%B} {expires.year}" in html


def test_each_download_is_the_frozen_package_counted_and_audited(client, sent):
    package, path = sent

    response = download(client, path)

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert package.case.reference in response["Content-Disposition"]
    assert response["Content-Security-Policy"] == HEADERS["Content-Security-Policy"]
    data = b"".join(response.streaming_content)
    assert hashlib.sha256(data).hexdigest() == package.sha256
    event = AuditEvent.objects.get(action="response.downloaded")
    assert event.details["download"] == 1 and event.details["max_downloads"] == 3
    assert "/portal/" not in str(event.details)
    assert "2 more downloads" in client.get(path).content.decode()


def test_the_download_past_the_limit_answers_410(client, sent):
    package, path = sent
    for _ in range(3):
        assert download(client, path).status_code == 200

    refused = download(client, path)

    assert refused.status_code == 410
    assert "no downloads left" in refused.content.decode()
    assert_plain_page(refused)
    assert ResponseDownload.objects.count() == 3
    assert client.get(path).status_code == 410  # the page says so too
    event = AuditEvent.objects.filter(action="portal.link_refused").last()
    assert event.details["state"] == "used"


def test_an_expired_link_answers_410(client, sent):
    _, path = sent
    PortalToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert client.get(path).status_code == 410
    refused = download(client, path)
    assert refused.status_code == 410 and "has expired" in refused.content.decode()
    assert not ResponseDownload.objects.exists()


def test_a_revoked_link_answers_410(client, sent, system_actor):
    package, path = sent
    responses.revoke(package.case, actor=system_actor)

    page = client.get(path)

    assert page.status_code == 410 and "no longer works" in page.content.decode()
    assert download(client, path).status_code == 410


def test_a_reissued_link_replaces_the_old_one(client, sent, system_actor):
    package, path = sent
    responses.reissue(package.case, actor=system_actor)

    assert client.get(path).status_code == 410
    body = package.case.messages.filter(kind="response").last().body
    new = next(w for w in body.split() if "/portal/response/" in w)
    assert client.get(new.removeprefix("https://desk.example.org")).status_code == 200


def test_an_unknown_link_is_404(client, db):
    response = client.get("/portal/response/not-a-token/")
    assert response.status_code == 404
    assert download(client, "/portal/response/not-a-token/").status_code == 404
    assert client.get("/portal/response/" + "x" * 300 + "/").status_code == 404


def test_a_verification_link_is_not_a_response_link(client, sent, system_actor):
    _, path = sent
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert client.get(f"/portal/verify/{token}/").status_code == 404


def test_a_purged_package_answers_410_not_500(client, sent):
    package, path = sent
    package.file.delete(save=False)
    ResponsePackage.objects.filter(pk=package.pk).update(file="")

    assert client.get(path).status_code == 410
    assert download(client, path).status_code == 410


def test_a_file_missing_from_storage_answers_410_not_500(client, sent):
    package, path = sent
    package.file.storage.delete(package.file.name)

    assert download(client, path).status_code == 410


def test_get_on_the_download_url_is_not_a_download(client, sent):
    _, path = sent
    assert client.get(path + "download/").status_code == 405
    assert not ResponseDownload.objects.exists()


def test_download_needs_the_csrf_token_and_works_without_a_referrer(sent):
    _, path = sent
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(path, secure=True)

    assert browser.post(path + "download/", secure=True, HTTP_ORIGIN="null").status_code == 403
    ok = browser.post(path + "download/", {"csrfmiddlewaretoken": csrf_token(
        page.content.decode())}, secure=True, HTTP_ORIGIN="null")
    assert ok.status_code == 200


def test_too_many_attempts_get_429(client, sent, settings):
    _, path = sent
    settings.PORTAL_ATTEMPTS_PER_MINUTE = 2
    statuses = [client.get(path).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_webhooks_for_sent_and_first_download_only(client, ready_case, system_actor, settings):
    from cases.models import ApiClient

    api = ApiClient.objects.create(name="Ticketing", scopes=["cases:read"],
                                   webhook_url="https://tickets.example.org/hook",
                                   webhook_secret="s")
    type(ready_case).objects.filter(pk=ready_case.pk).update(api_client=api)
    ready_case.refresh_from_db()
    responses.prepare(ready_case, actor=system_actor)
    responses.send(ready_case, actor=system_actor)
    body = ready_case.messages.get(kind="response").body
    path = next(w for w in body.split() if "/portal/response/" in w).removeprefix(
        "https://desk.example.org")
    download(client, path)
    download(client, path)

    events = list(WebhookDelivery.objects.filter(event__startswith="case.response")
                  .order_by("pk").values_list("event", "payload"))
    assert [e for e, _ in events] == ["case.response_sent", "case.response_downloaded"]
    sent_payload, downloaded = events[0][1], events[1][1]
    assert sent_payload["response"]["downloads"] == 0
    assert downloaded["response"]["downloads"] == 1 and downloaded["id"] == ready_case.pk
    assert "lovelace" not in str(events).lower() and "/portal/" not in str(events)


def test_a_delete_case_delivers_its_deletion_confirmation_through_the_link(
    client, make_case, system_actor, settings, tmp_path
):
    import io
    import zipfile

    from tests.conftest import submitted_with_jobs

    settings.MEDIA_ROOT, settings.PUBLIC_BASE_URL = tmp_path, "https://desk.example.org"
    case = submitted_with_jobs(make_case(actions=["delete"], vendors=["id5"]), system_actor,
                               default="complete")
    responses.prepare(case, actor=system_actor)
    responses.send(case, actor=system_actor)
    link = next(w for w in case.messages.get(kind="response").body.split()
                if "/portal/response/" in w).removeprefix("https://desk.example.org")

    page = client.get(link).content.decode()
    data = b"".join(download(client, link).streaming_content)

    assert "deletion_confirmation.html" in page and "report.html" not in page
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert sorted(names) == ["MANIFEST.csv", "deletion_confirmation.html"]
