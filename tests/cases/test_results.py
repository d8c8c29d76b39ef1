"""Result files: a vendor's ZIP is checked before it is attached; a bad one is refused visibly."""

import io
import os
import zipfile

import pytest
import responses

from cases import services, tasks
from cases.choices import CaseStatus, JobStatus, ResultStatus, Vendor
from cases.models import AuditEvent, ResultFile, VendorJob

PRIVACY = "https://platform.adobe.io/data/core/privacy"
DOWNLOAD = "http://127.0.0.1:9/results/job-1.zip"


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def finished_job(make_case, system_actor, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.ADOBE_CLIENT_ID, settings.ADOBE_CLIENT_SECRET = "client", "secret"
    settings.ADOBE_ORG_ID = "ORG@AdobeOrg"
    settings.RESULT_DOWNLOAD_HOSTS = ["127.0.0.1:9"]
    case = services.verify_identity(make_case(actions=["access"], vendors=["adobe_privacy"],
                                              adobe_products=["analytics"]), actor=system_actor,
                                              method="account_login")
    services.submit_case(case, actor=system_actor)
    job = VendorJob.objects.get(case=case, vendor=Vendor.ADOBE_PRIVACY)
    services.update_job(job, status=JobStatus.COMPLETE, vendor_job_id="job-1",
                        vendor_status="complete", result_status=ResultStatus.PENDING)
    return job


def _mock_vendor(body: bytes, status: int = 200) -> None:
    responses.post(
        "https://ims-na1.adobelogin.com/ims/token/v3",
        json={"access_token": "tok", "token_type": "bearer", "expires_in": 86399},
    )
    responses.get(f"{PRIVACY}/jobs/job-1", json={
        "jobId": "job-1", "status": "complete", "action": "access", "userKey": "DSAR",
        "downloadURL": DOWNLOAD, "productResponses": [],
    })
    responses.get(DOWNLOAD, body=body, status=status, content_type="application/zip")


@responses.activate
def test_a_good_zip_is_attached_with_hash_and_listing(finished_job):
    _mock_vendor(_zip({"Analytics/data.json": b"{}"}))
    assert tasks.download_result(finished_job.pk) == "attached"
    result = ResultFile.objects.get()
    assert result.entries[0]["name"] == "Analytics/data.json"
    assert result.file.read()[:2] == b"PK"
    finished_job.refresh_from_db()
    assert finished_job.result_status == ResultStatus.ATTACHED
    finished_job.case.refresh_from_db()
    assert finished_job.case.status == CaseStatus.COMPLETED
    # Running the task again (a duplicate delivery) does nothing.
    assert tasks.download_result(finished_job.pk) == "nothing to do"
    assert ResultFile.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_zip({"../../etc/cron.d/evil": b"x"}), "climbs out"),
        (_zip({"/etc/passwd": b"x"}), "absolute path"),
        (_zip({"Analytics/bomb.json": b"0" * (20 * 1024 * 1024)}), "ZIP bomb"),
        (b"<html>not a zip</html>", "not a valid ZIP"),
    ],
)
@responses.activate
def test_a_malicious_zip_is_refused_and_the_case_needs_action(finished_job, body, reason):
    _mock_vendor(body)
    assert tasks.download_result(finished_job.pk) == "rejected"
    finished_job.refresh_from_db()
    assert finished_job.result_status == ResultStatus.REJECTED
    assert reason in finished_job.last_error
    finished_job.case.refresh_from_db()
    assert finished_job.case.status == CaseStatus.ACTION_REQUIRED
    assert "result file rejected" in finished_job.case.status_reason
    assert not ResultFile.objects.exists()


@responses.activate
def test_an_oversize_download_is_refused(finished_job, settings):
    settings.RESULT_MAX_BYTES = 1000
    _mock_vendor(_zip({"a.json": os.urandom(5000)}))
    assert tasks.download_result(finished_job.pk) == "refused"
    finished_job.refresh_from_db()
    assert finished_job.result_status == ResultStatus.REJECTED
    assert "1000" in finished_job.last_error or "1,000" in finished_job.last_error
    assert not ResultFile.objects.exists()


@responses.activate
def test_a_host_outside_the_allow_list_is_refused(finished_job, settings):
    settings.RESULT_DOWNLOAD_HOSTS = ["platform.adobe.io"]
    _mock_vendor(_zip({"a.json": b"{}"}))
    assert tasks.download_result(finished_job.pk) == "refused"
    finished_job.refresh_from_db()
    assert "127.0.0.1" in finished_job.last_error
    assert not ResultFile.objects.exists()


def test_expired_results_are_purged_but_their_record_stays(finished_job, settings):
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from django.utils import timezone

    result = ResultFile(case=finished_job.case, job=finished_job, name="r.zip", size=3,
                        sha256="a" * 64, purge_after=timezone.now())
    result.file.save("r.zip", ContentFile(b"PK!"), save=True)
    path = result.file.path
    call_command("purge_results")
    result.refresh_from_db()
    assert not result.file and not os.path.exists(path)
    assert result.sha256 == "a" * 64
    assert AuditEvent.objects.filter(action="result.purged").exists()
