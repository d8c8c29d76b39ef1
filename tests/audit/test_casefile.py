"""The case file: one ZIP with the summary, timeline, jobs, result manifest and chain head."""

import csv
import hashlib
import io
import json
import zipfile

import pytest
from django.urls import reverse

from cases import services
from cases.audit import Actor, chain_head, verify_chain
from cases.casefile import CASEFILE_ACTION, build_case_file
from cases.choices import CaseStatus, JobStatus, ResultStatus, Vendor
from cases.models import AuditEvent, VendorJob

FILES = {
    "summary.html", "timeline.csv", "vendor_jobs.csv", "results_manifest.csv",
    "chain_head.txt", "SHA256SUMS",
}


@pytest.fixture
def answered_case(make_case, system_actor, settings, tmp_path):
    """An access case sent to Adobe, its result file attached, then closed."""
    settings.MEDIA_ROOT = tmp_path
    settings.ADOBE_CLIENT_ID, settings.ADOBE_CLIENT_SECRET = "client", "secret"
    settings.ADOBE_ORG_ID = "ORG@AdobeOrg"
    case = make_case(actions=["access"], vendors=["adobe_privacy"], adobe_products=["analytics"])
    case = services.verify_identity(case, actor=system_actor, method="account_login")
    services.extend_deadline(case, actor=system_actor, reason="Twelve years of marketing data.")
    services.submit_case(case, actor=system_actor)
    job = VendorJob.objects.get(case=case, vendor=Vendor.ADOBE_PRIVACY)
    services.update_job(job, status=JobStatus.COMPLETE, vendor_job_id="job-1",
                        vendor_status="complete", result_codes=["PRIV-0000"],
                        result_status=ResultStatus.PENDING)
    data = b"PK fake zip for the manifest"
    path = tmp_path / "result.zip"
    path.write_bytes(data)
    services.attach_result(job, path, name="job-1.zip", size=len(data),
                           sha256=hashlib.sha256(data).hexdigest(), entries=[{"name": "a.json"}])
    case.refresh_from_db()
    assert case.status == CaseStatus.COMPLETED
    return services.close(case, actor=system_actor,
                          delivered_out_of_band="Sent by post on 2 January 2027")


def open_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def case_file(case, user) -> zipfile.ZipFile:
    with build_case_file(case, actor=Actor.for_user(user)).file as handle:
        return open_zip(handle.read())


def read_csv(archive: zipfile.ZipFile, name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(archive.read(name).decode("utf-8"))))


def test_case_file_holds_every_part(answered_case, officer):
    archive = case_file(answered_case, officer)
    assert set(archive.namelist()) == FILES
    assert archive.testzip() is None


def test_summary_reads_as_a_report_of_the_case(answered_case, officer):
    archive = case_file(answered_case, officer)
    html = archive.read("summary.html").decode()
    for text in (
        answered_case.reference,
        "Ada Lovelace",  # the subject, as on the case page: this file is for the subject's file
        "ada.lovelace@example.org",
        "EU/EEA GDPR (gdpr)",
        "Twelve years of marketing data.",  # the extension's reason
        "Adobe Privacy Service",
        "PRIV-0000",
        "job-1.zip",
        "Identity verified",
        "within the deadline",
        "olivia",  # who generated it
    ):
        assert text in html, text
    assert "44363657679975868102109072127" not in html  # identity values stay out
    assert "<script" not in html and "http-equiv" not in html


def test_timeline_jobs_and_manifest_match_the_database(answered_case, officer):
    head_before = chain_head()
    archive = case_file(answered_case, officer)
    timeline = read_csv(archive, "timeline.csv")
    events = AuditEvent.objects.filter(case=answered_case, seq__lte=head_before.seq)
    assert [int(row[0]) for row in timeline[1:-1]] == list(events.values_list("seq", flat=True))
    assert timeline[-1][0] == "#stamp"
    jobs = read_csv(archive, "vendor_jobs.csv")
    assert jobs[1][:4] == ["adobe_privacy", "access", "complete", "complete"]
    manifest = read_csv(archive, "results_manifest.csv")
    assert manifest[1][:3] == [
        "job-1.zip", hashlib.sha256(b"PK fake zip for the manifest").hexdigest(), "28"
    ]


def test_vendor_jobs_csv_writes_json_and_the_manual_note(make_case, system_actor, officer):
    case = services.verify_identity(make_case(vendors=["id5", "adobe_privacy"]),
                                    actor=system_actor, method="account_login")
    services.submit_case(case, actor=system_actor)
    adobe = VendorJob.objects.get(case=case, vendor=Vendor.ADOBE_PRIVACY, action="access")
    services.update_job(
        adobe, status=JobStatus.PARTIAL, vendor_status="complete", products=["analytics"],
        result_codes=["1022-400", "6000-200"],
        product_statuses={"Analytics": {"status": "error", "code": "1022-400"}},
    )
    manual = VendorJob.objects.get(case=case, vendor=Vendor.ID5, action="access")
    services.complete_manual_job(manual, actor=system_actor,
                                 note="ID5 replied on 24 Nov: they hold no data.")

    archive = case_file(case, officer)
    header, *rows = read_csv(archive, "vendor_jobs.csv")
    jobs = {(row[0], row[1]): dict(zip(header, row, strict=True)) for row in rows}
    partial = jobs[("adobe_privacy", "access")]
    assert json.loads(partial["result_codes"]) == ["1022-400", "6000-200"]
    assert json.loads(partial["product_statuses"]) == {
        "Analytics": {"code": "1022-400", "status": "error"}
    }
    assert json.loads(partial["products"]) == ["analytics"]
    assert jobs[("id5", "access")]["note"] == "ID5 replied on 24 Nov: they hold no data."
    html = archive.read("summary.html").decode()
    assert "ID5 replied on 24 Nov: they hold no data." in html


def test_chain_head_and_checksums_let_the_file_be_checked_later(answered_case, officer):
    head = chain_head()
    archive = case_file(answered_case, officer)
    text = archive.read("chain_head.txt").decode()
    assert f"chain_head_seq {head.seq}\n" in text
    assert f"chain_head_hash {head.hash}\n" in text
    assert f"--expect-head {head.seq}:{head.hash}" in text
    sums = dict(line.split("  ")[::-1] for line in archive.read("SHA256SUMS").decode().splitlines())
    assert set(sums) == FILES - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest


def test_case_file_is_audited_without_personal_data(answered_case, officer):
    built = build_case_file(answered_case, actor=Actor.for_user(officer))
    built.file.close()
    event = AuditEvent.objects.get(action=CASEFILE_ACTION)
    assert event.case_id == answered_case.pk
    assert event.actor_label == "olivia"
    assert event.details["sha256"] == built.sha256
    assert event.details["head_hash"] == built.head.hash
    assert "Lovelace" not in repr(event.details)
    assert verify_chain().ok


def test_case_file_of_a_rejected_case_gives_the_reason(make_case, system_actor, officer):
    case = make_case()
    services.reject(case, actor=system_actor, reason="Could not prove identity.",
                    code="identity_not_verified")
    archive = case_file(case, officer)
    html = archive.read("summary.html").decode()
    assert "Identity could not be verified" in html
    assert "Could not prove identity." in html
    assert "No vendor jobs" in html


# --------------------------------------------------------------------------- the view


def case_file_url(case) -> str:
    return reverse("admin:cases_case_case_file", args=[case.pk])


def test_officer_downloads_the_case_file(client, officer, answered_case):
    client.force_login(officer)
    response = client.get(case_file_url(answered_case))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f"case-file-{answered_case.reference}-" in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    response.close()
    assert hashlib.sha256(data).hexdigest() == response["X-Case-File-SHA256"]
    assert set(open_zip(data).namelist()) == FILES


def test_auditor_may_download_the_case_file(client, auditor, make_case):
    client.force_login(auditor)
    response = client.get(case_file_url(make_case()))
    response.close()
    assert response.status_code == 200


def test_staff_without_export_permission_is_refused(client, make_case, django_user_model):
    from django.contrib.auth.models import Permission

    clerk = django_user_model.objects.create_user("clerk", password="x" * 12, is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_case"))
    client.force_login(clerk)
    assert client.get(case_file_url(make_case())).status_code == 403
    assert not AuditEvent.objects.filter(action=CASEFILE_ACTION).exists()


def test_anonymous_user_is_sent_to_login(client, make_case):
    response = client.get(case_file_url(make_case()))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_unknown_case_is_404(client, officer):
    client.force_login(officer)
    assert client.get(reverse("admin:cases_case_case_file", args=["999999"])).status_code == 404
    assert client.get("/admin/cases/case/abc/case-file/").status_code == 404


def test_summary_lists_the_notes_and_the_attachments_but_not_their_content(
    make_case, officer, settings, tmp_path
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from cases import notes

    settings.MEDIA_ROOT = tmp_path
    case = make_case()
    actor = Actor.for_user(officer)
    notes.add_note(case, actor=actor, text="Subject asked for paper copies <b>by post</b>.")
    content = b"%PDF-1.7\nsecret vendor answer\n%%EOF\n"
    attachment = notes.add_attachment(
        case, actor=actor, upload=SimpleUploadedFile("vendor-answer.pdf", content),
        include_in_response=True,
    )
    html = case_file(case, officer).read("summary.html").decode()
    notes_part = html.split("<h2>Notes</h2>")[1].split("<h2>Attachments</h2>")[0]
    assert "Subject asked for paper copies &lt;b&gt;by post&lt;/b&gt;." in notes_part
    assert "olivia" in notes_part
    files_part = html.split("<h2>Attachments</h2>")[1].split("<h2>Integrity</h2>")[0]
    for text in ("vendor-answer.pdf", str(len(content)), attachment.sha256, "olivia", "Yes"):
        assert text in files_part, text
    assert "secret vendor answer" not in html


def test_summary_says_how_the_subject_was_verified_and_told_without_the_text(
    make_case, officer, settings
):
    from cases import services
    from cases.models import Message

    settings.AUTO_ACKNOWLEDGE = True
    case = make_case()
    actor = Actor.for_user(officer)
    services.verify_identity(case, actor=actor, method="document", note="Passport 123 checked")
    services.extend_deadline(case, actor=actor, reason="Many systems to search")
    services.reject(case, actor=actor, reason="Withdrawn", told_out_of_band="Phoned on Monday")

    html = case_file(case, officer).read("summary.html").decode()

    assert "ID document checked by an officer" in html and "recorded by olivia" in html
    told = html.split("<h2>Messages to the subject</h2>")[1].split("<h2>Notes</h2>")[0]
    for message in Message.objects.filter(case=case):
        assert message.get_kind_display() in told and message.body_sha256 in told
    assert "Rejection" in told and "Told another way (by olivia)" in told
    # The officer's reasons are the case's own record; evidence and notice notes are not.
    for secret in ("Passport 123", "Phoned on Monday"):
        assert secret not in html


def test_case_file_holds_the_sent_manifest_and_the_deletion_confirmation(
    ready_case, system_actor, officer
):
    from cases import responses

    responses.prepare(ready_case, actor=system_actor)
    package = responses.send(ready_case, actor=system_actor)

    archive = case_file(ready_case, officer)

    assert {"response/MANIFEST.csv", "deletion_confirmation.html"} <= set(archive.namelist())
    rows = read_csv(archive, "response/MANIFEST.csv")
    assert rows[0] == ["path", "size", "sha256"]
    assert {(r["path"], r["sha256"]) for r in package.manifest} == {
        (path, sha) for path, _, sha in rows[1:]}
    letter = archive.read("deletion_confirmation.html").decode()
    assert letter == package.deletion_confirmation
    assert "a8b6ccc4ee35ddaf5a5bb0f5c696dbd3" in letter and "adobe-del-job-1" in letter
    sums = archive.read("SHA256SUMS").decode()
    assert "response/MANIFEST.csv" in sums and "deletion_confirmation.html" in sums


def test_summary_says_when_the_response_was_sent_and_downloaded(
    ready_case, system_actor, officer
):
    from django.test import Client

    from cases import responses

    responses.prepare(ready_case, actor=system_actor)
    package = responses.send(ready_case, actor=system_actor)
    link = next(w for w in ready_case.messages.get(kind="response").body.split()
                if "/portal/response/" in w).removeprefix("https://desk.example.org")
    Client().post(link + "download/")

    summary = case_file(ready_case, officer).read("summary.html").decode()

    assert "<h2>Response</h2>" in summary and package.sha256 in summary
    assert "none" not in summary.split("<dt>Downloads</dt>")[1].split("</dd>")[0]


def test_a_delete_case_file_holds_the_confirmation_before_sending(
    make_case, system_actor, officer, settings, tmp_path
):
    from tests.conftest import submitted_with_jobs

    settings.MEDIA_ROOT = tmp_path
    case = submitted_with_jobs(make_case(actions=["delete"], vendors=["id5"]), system_actor,
                               default="complete")
    services.update_job(case.jobs.get(), vendor_job_id="a8b6ccc4ee35ddaf5a5bb0f5c696dbd3")

    archive = case_file(case, officer)

    assert "response/MANIFEST.csv" not in archive.namelist()
    assert "a8b6ccc4ee35ddaf5a5bb0f5c696dbd3" in archive.read("deletion_confirmation.html").decode()
