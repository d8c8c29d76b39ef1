"""The response package: report.html and deletion_confirmation.html rendered from real-shaped
vendor results, the streamed ZIP with MANIFEST.csv, leaving files out, sending, revoking,
re-issuing, closing and retention."""

import csv
import datetime as dt
import hashlib
import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cases import notes, report, responses, services
from cases.choices import (
    Action,
    CaseStatus,
    JobStatus,
    MessageKind,
    ResponseStatus,
    TokenPurpose,
    Vendor,
)
from cases.models import AuditEvent, Message, OutOfBandNotice, PortalToken, ResponsePackage
from tests.conftest import vendor_zip


def package_zip(package: ResponsePackage) -> zipfile.ZipFile:
    with package.file.open("rb") as handle:
        return zipfile.ZipFile(io.BytesIO(handle.read()))


def report_html(package: ResponsePackage) -> str:
    return package_zip(package).read("report.html").decode("utf-8")


def test_report_renders_each_product_as_fields_and_values(ready_case, system_actor):
    package = responses.prepare(ready_case, actor=system_actor)
    html = report_html(package)

    for name in ("Adobe Analytics", "Real-Time Customer Profile",
                 "Adobe Experience Platform data lake", "Identity Service"):
        assert name in html
    # Nested JSON flattened into readable rows, list items numbered.
    assert "attributes › address › city" in html
    assert "<td>London</td>" in html
    assert "hits › 2 › pageName" in html
    assert "graph › nodes › 1 › namespace" in html
    # Never raw JSON as the only form.
    assert '"hits"' not in html and "{" not in html.split("<body>")[1].split("</style>")[-1]


def test_report_escapes_hostile_vendor_values_and_keeps_unicode(ready_case, system_actor):
    html = report_html(responses.prepare(ready_case, actor=system_actor))

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "Zoë’s café — 東京" in html


def test_report_masks_the_subjects_identifiers(ready_case, system_actor):
    html = report_html(responses.prepare(ready_case, actor=system_actor))

    assert "ada.lovelace@example.org" not in html
    assert "44363657679975868102109072127" not in html
    assert "••••.org" in html and "••••2127" in html
    # The summary names what was searched, where and when.
    assert "What we searched, where and when" in html
    assert "<td>email</td>" in html and "<td>ecid</td>" in html
    assert "Adobe Privacy Service" in html


def test_report_says_plainly_when_a_product_has_no_data(ready_case, system_actor):
    html = report_html(responses.prepare(ready_case, actor=system_actor))

    assert "Adobe Journey Optimizer holds no data about you" in html


def test_report_of_a_partial_result_says_which_product_failed(ready_case, system_actor):
    job = ready_case.jobs.get(vendor=Vendor.ADOBE_PRIVACY, action=Action.ACCESS)
    statuses = {**job.product_statuses, "Target": {"status": "error", "code": "PRVCY-1021-400"}}
    services.update_job(job, product_statuses=statuses)
    ready_case.refresh_from_db()

    html = report_html(responses.prepare(ready_case, actor=system_actor))

    assert "Adobe Target holds no data about you that it could return: the service reported " \
        "an error" in html


def test_report_caps_rows_per_product(ready_case, system_actor, monkeypatch):
    monkeypatch.setattr(report, "REPORT_MAX_ROWS", 3)

    html = report_html(responses.prepare(ready_case, actor=system_actor))

    assert "First 3 of 15 rows shown; the full data is in the attached files." in html


def test_an_unreadable_vendor_file_is_attached_as_received(ready_case, system_actor, tmp_path):
    result = ready_case.results.get()
    with open(result.file.path, "wb") as handle:
        handle.write(b"PK not really a zip")

    package = responses.prepare(ready_case, actor=system_actor)

    assert "could not be opened as a ZIP archive" in report_html(package)
    assert package_zip(package).read("vendor-files/6fc09b53.zip") == b"PK not really a zip"


def test_package_holds_report_vendor_files_attachments_and_manifest(ready_case, system_actor):
    notes.add_attachment(ready_case, actor=system_actor, include_in_response=True,
                         upload=SimpleUploadedFile("cover letter.txt", b"Dear Ada"))
    notes.add_attachment(ready_case, actor=system_actor,
                         upload=SimpleUploadedFile("id-card.txt", b"internal only"))

    package = responses.prepare(ready_case, actor=system_actor)
    archive = package_zip(package)

    assert set(archive.namelist()) == {
        "report.html", "deletion_confirmation.html", "vendor-files/6fc09b53.zip",
        "documents/cover letter.txt", "MANIFEST.csv",
    }
    assert archive.read("documents/cover letter.txt") == b"Dear Ada"
    assert archive.read("vendor-files/6fc09b53.zip") == ready_case.results.get().file.read()
    rows = list(csv.reader(io.StringIO(archive.read("MANIFEST.csv").decode())))
    assert rows[0] == ["path", "size", "sha256"]
    for path, size, sha256 in rows[1:]:
        data = archive.read(path)
        assert (int(size), sha256) == (len(data), hashlib.sha256(data).hexdigest())
    with package.file.open("rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == package.sha256
    event = AuditEvent.objects.filter(action="response.prepared").last()
    assert event.details["sha256"] == package.sha256 and event.details["files"] == 4


def test_deletion_confirmation_names_each_vendor_and_its_ids(ready_case, system_actor):
    id5 = ready_case.jobs.get(vendor=Vendor.ID5, action=Action.DELETE)
    services.update_job(id5, completed_at=timezone.make_aware(dt.datetime(2027, 1, 2, 12)))

    letter = package_zip(responses.prepare(ready_case, actor=system_actor)).read(
        "deletion_confirmation.html").decode()

    assert "Adobe Privacy Service" in letter and "ID5" in letter
    assert "adobe-del-job-1" in letter and "15700479082313109RX-900" in letter
    assert "ID5 request id: <span class=\"mono\">a8b6ccc4ee35ddaf5a5bb0f5c696dbd3</span>" in letter
    assert "2 January 2027" in letter
    assert "Deleted." in letter


def test_deletion_confirmation_explains_not_applicable_and_manual_jobs(
    make_case, system_actor, settings, tmp_path
):
    from tests.conftest import submitted_with_jobs

    settings.MEDIA_ROOT = tmp_path
    case = make_case(actions=["delete"], regulation="lgpd_bra", vendors=["adobe_privacy", "id5"])
    case = submitted_with_jobs(case, system_actor, default="complete",
                               id5_delete=JobStatus.NOT_APPLICABLE)

    package = responses.prepare(case, actor=system_actor)
    archive = package_zip(package)

    assert "report.html" not in archive.namelist()
    letter = archive.read("deletion_confirmation.html").decode()
    assert "Not asked: this company does not handle deletions under the law" in letter
    rows = report.delete_rows(case)
    assert {r["vendor"] for r in rows} == {"Adobe Privacy Service", "ID5"}
    assert "by hand" in report.DELETE_OUTCOMES[JobStatus.MANUAL]


def test_leaving_a_file_out_records_the_reason_and_audits_the_id_only(ready_case, system_actor):
    responses.prepare(ready_case, actor=system_actor)
    result = ready_case.results.get()

    with pytest.raises(ValidationError):
        responses.leave_out(ready_case, actor=system_actor, key=f"result:{result.pk}", reason=" ")
    package = responses.leave_out(ready_case, actor=system_actor, key=f"result:{result.pk}",
                                  reason="Holds Charles Babbage's data too")

    assert "vendor-files/6fc09b53.zip" not in package_zip(package).namelist()
    assert package.exclusions[0]["reason"] == "Holds Charles Babbage's data too"
    assert "1 file found for your request was left out" in report_html(package)
    event = AuditEvent.objects.get(action="response.file_left_out")
    assert event.details == {"package_id": package.pk, "source": "result", "file_id": result.pk}
    with pytest.raises(ValidationError):  # already out
        responses.leave_out(ready_case, actor=system_actor, key=f"result:{result.pk}",
                            reason="again")


def test_regenerating_replaces_the_draft_file(ready_case, system_actor):
    first = responses.prepare(ready_case, actor=system_actor)
    old_path = first.file.path

    second = responses.prepare(ready_case, actor=system_actor)

    assert second.pk == first.pk and second.file.path != old_path
    assert not __import__("os").path.exists(old_path)


def test_a_case_still_running_cannot_prepare_a_response(make_case, system_actor):
    case = make_case()
    with pytest.raises(services.TransitionError, match="once the vendors have answered"):
        responses.prepare(case, actor=system_actor)


def test_sending_freezes_the_package_and_emails_the_link(ready_case, system_actor, settings):
    settings.RESPONSE_LINK_DAYS, settings.RESPONSE_MAX_DOWNLOADS = 10, 3
    package = responses.prepare(ready_case, actor=system_actor)

    package = responses.send(ready_case, actor=system_actor)

    assert package.status == ResponseStatus.SENT and package.max_downloads == 3
    token = PortalToken.objects.get(case=ready_case, purpose=TokenPurpose.RESPONSE)
    lifetime = token.expires_at - package.sent_at
    assert dt.timedelta(days=9, hours=23) < lifetime < dt.timedelta(days=10, minutes=1)
    message = Message.objects.get(case=ready_case, kind=MessageKind.RESPONSE)
    assert "https://desk.example.org/portal/response/" in message.body
    assert token.message_id == message.pk
    event = AuditEvent.objects.get(action="response.sent")
    assert event.details["sha256"] == package.sha256
    assert "lovelace" not in str(event.details).lower() and "/portal/" not in str(event.details)
    with pytest.raises(services.TransitionError, match="frozen"):
        responses.prepare(ready_case, actor=system_actor)
    with pytest.raises(services.TransitionError):
        responses.leave_out(ready_case, actor=system_actor, key="result:1", reason="x")


def test_revoke_and_reissue_the_link(ready_case, system_actor):
    responses.prepare(ready_case, actor=system_actor)
    responses.send(ready_case, actor=system_actor)
    first = PortalToken.objects.get(purpose=TokenPurpose.RESPONSE)

    assert responses.revoke(ready_case, actor=system_actor).status == ResponseStatus.REVOKED
    first.refresh_from_db()
    assert first.revoked_at is not None
    with pytest.raises(services.TransitionError):
        responses.revoke(ready_case, actor=system_actor)

    package = responses.reissue(ready_case, actor=system_actor)

    assert package.status == ResponseStatus.SENT
    assert PortalToken.objects.filter(purpose=TokenPurpose.RESPONSE).count() == 2
    assert Message.objects.filter(case=ready_case, kind=MessageKind.RESPONSE).count() == 2
    assert AuditEvent.objects.filter(action="response.link_reissued").count() == 1
    # Re-issuing again revokes the second link too.
    responses.reissue(ready_case, actor=system_actor)
    assert PortalToken.objects.filter(purpose=TokenPurpose.RESPONSE,
                                      revoked_at__isnull=True).count() == 1


def test_close_needs_a_sent_response_or_an_out_of_band_delivery_note(ready_case, system_actor):
    with pytest.raises(ValidationError) as refused:
        services.close(ready_case, actor=system_actor, note="done")
    assert "delivered_out_of_band" in refused.value.message_dict

    case = services.close(ready_case, actor=system_actor,
                          delivered_out_of_band="Handed over in person on 2 January 2027")

    assert case.status == CaseStatus.CLOSED
    notice = OutOfBandNotice.objects.get(case=case)
    assert notice.kind == MessageKind.RESPONSE and "in person" in notice.note
    closed = AuditEvent.objects.get(action="case.closed")
    assert closed.details == {"response": "out_of_band"}


def test_a_sent_response_lets_the_case_close(ready_case, system_actor):
    responses.prepare(ready_case, actor=system_actor)
    responses.send(ready_case, actor=system_actor)

    case = services.close(ready_case, actor=system_actor)

    assert case.status == CaseStatus.CLOSED
    assert AuditEvent.objects.get(action="case.closed").details == {"response": "sent"}


def test_retention_purges_the_package_file_and_keeps_hash_and_manifest(ready_case,
                                                                      system_actor):
    package = responses.prepare(ready_case, actor=system_actor)
    responses.send(ready_case, actor=system_actor)
    path = package.file.path
    ResponsePackage.objects.filter(pk=package.pk).update(
        purge_after=timezone.now() - dt.timedelta(seconds=1))

    purged = services.purge_expired_results()

    package.refresh_from_db()
    assert purged >= 1 and not package.file and package.purged_at
    assert not __import__("os").path.exists(path)
    assert len(package.sha256) == 64 and package.manifest
    assert AuditEvent.objects.get(action="response.purged").details["sha256"] == package.sha256
    with pytest.raises(services.TransitionError, match="purged"):
        responses.reissue(ready_case, actor=system_actor)


def test_package_follows_result_retention_days(ready_case, system_actor, settings):
    settings.RESULT_RETENTION_DAYS = 12
    package = responses.prepare(ready_case, actor=system_actor)
    assert package.purge_after - package.created_at == dt.timedelta(days=12)


def test_flatten_reads_nested_json():
    rows = list(report.flatten({"address": {"city": "Paris"}, "tags": [], "ids": [1, 2]}))
    assert rows == [("address › city", "Paris"), ("tags", "(empty)"), ("ids › 1", 1),
                    ("ids › 2", 2)]


def test_vendor_zip_helper_is_real_shaped():
    archive = zipfile.ZipFile(io.BytesIO(vendor_zip({"Profile": None, "Analytics": {"a": 1}})))
    assert archive.namelist() == ["Profile/", "Analytics/", "Analytics/data.json"]


def test_report_reads_the_vendor_sandboxs_own_result_zip(ready_case, system_actor):
    """The ZIP the sandbox serves (connectors/sandbox/zips.py), one product without data."""
    import time

    from connectors.sandbox.catalog import PRODUCTS, PRVCY_NOT_FOUND, PRVCY_SUCCESS
    from connectors.sandbox.progress import Progress
    from connectors.sandbox.state import PrivacyJob
    from connectors.sandbox.zips import build_result_zip

    codes = ["analytics", "profileservice", "aepdatalake", "identity", "cjm"]
    job = PrivacyJob(
        job_id="sandbox-job-1", request_id="req-1", org_id="ORG@AdobeOrg",
        user_key=ready_case.reference, action="access",
        user_ids=[{"namespace": "email", "value": "ada.lovelace@example.org"}],
        products=[PRODUCTS[c] for c in codes], regulation="gdpr", submitted_by="tests",
        outcome="", progress=Progress(path=["complete"], created=time.time()),
    )
    data = build_result_zip(job, [(PRODUCTS[c], PRVCY_NOT_FOUND if c == "cjm" else
                                   PRVCY_SUCCESS) for c in codes])
    result = ready_case.results.get()
    with open(result.file.path, "wb") as handle:
        handle.write(data)

    html = report_html(responses.prepare(ready_case, actor=system_actor))

    assert "attributes › loyaltyTier" in html and "<td>gold</td>" in html
    assert "rows › 1 › datasetId" in html and "graph › edges" in html
    assert "hits › 1 › reportSuite" in html and "sandbox.prod" in html
    assert "Adobe Journey Optimizer holds no data about you" in html
    assert "ada.lovelace@example.org" not in html
