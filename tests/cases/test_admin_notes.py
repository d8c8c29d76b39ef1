"""Officers add notes and files on the case page, download files (audited), and mark them for
the response; the auditor reads but neither downloads nor changes."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cases import notes, services
from cases.choices import JobStatus
from cases.models import Attachment, AuditEvent, Note, VendorJob

PDF = b"%PDF-1.7\nthe vendor says: no data held\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(media) -> list:
    return [path for path in media.rglob("*") if path.is_file()] if media.exists() else []


def step(case, name):
    return reverse(f"admin:cases_case_step_{name}", args=[case.pk])


def change_page(case):
    return reverse("admin:cases_case_change", args=[case.pk])


def test_officer_adds_a_note_and_a_file_from_the_case_page(client, officer, make_case, media):
    case = make_case()
    client.force_login(officer)
    assert b"Add note or attachment" in client.get(change_page(case)).content
    form = client.get(step(case, "note"))
    assert b'enctype="multipart/form-data"' in form.content
    response = client.post(step(case, "note"), {
        "note": "Subject phoned: wants the answer by post.",
        "attachment": SimpleUploadedFile("vendor answer.pdf", PDF),
        "include_in_response": "on",
    }, follow=True)
    assert response.status_code == 200
    note = Note.objects.get(case=case)
    attachment = Attachment.objects.get(case=case)
    assert note.author == officer and note.author_label == officer.username
    assert attachment.include_in_response and attachment.added_by == officer
    page = response.content.decode()
    assert "Subject phoned: wants the answer by post." in page  # the notes section
    assert "Note: Subject phoned" in page and "vendor answer.pdf (" in page  # the timeline
    assert len(stored_files(media)) == 1


def test_the_step_needs_a_note_or_a_file(client, officer, make_case):
    client.force_login(officer)
    response = client.post(step(make_case(), "note"), {"note": "  "})
    assert response.status_code == 200
    assert "Write a note, choose a file, or both." in response.content.decode()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("tool.exe", EXE, ".exe files are not accepted"),
        ("invoice.pdf", EXE, "is a program, not a .pdf file"),
        ("big.pdf", b"%PDF-" + b"x" * 2000, "larger than the limit of 1.0"),
    ],
)
def test_a_refused_upload_is_a_form_error_and_stores_nothing(
    client, officer, make_case, media, settings, name, data, message
):
    settings.ATTACHMENT_MAX_BYTES = 1024
    case = make_case()
    client.force_login(officer)
    response = client.post(step(case, "note"), {
        "note": "Kept only with its file", "attachment": SimpleUploadedFile(name, data),
    })
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Attachment.objects.exists() and not Note.objects.exists()
    assert stored_files(media) == []


def test_download_is_audited_and_offers_the_sanitised_name(
    client, officer, make_case, system_actor
):
    case = make_case()
    attachment = notes.add_attachment(
        case, actor=system_actor,
        upload=SimpleUploadedFile('../../réponse "ID5".pdf', PDF),
    )
    client.force_login(officer)
    url = reverse("admin:cases_case_attachment_download", args=[case.pk, attachment.pk])
    assert url in client.get(change_page(case)).content.decode()
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;") and ".." not in disposition
    assert "filename*=utf-8''r%C3%A9ponse%20_ID5_.pdf" in disposition
    assert response["Content-Type"] == "application/pdf"
    event = AuditEvent.objects.get(action="attachment.downloaded")
    assert event.actor_label == officer.username
    assert event.details == {"attachment_id": attachment.pk, "sha256": attachment.sha256,
                             "size": len(PDF)}


def test_auditor_sees_attachments_but_no_link_and_is_denied_the_download(
    client, auditor, make_case, system_actor
):
    case = make_case()
    attachment = notes.add_attachment(
        case, actor=system_actor, upload=SimpleUploadedFile("answer.pdf", PDF)
    )
    client.force_login(auditor)
    url = reverse("admin:cases_case_attachment_download", args=[case.pk, attachment.pk])
    page = client.get(change_page(case)).content.decode()
    assert "answer.pdf" in page and url not in page
    assert "Add note or attachment" not in page
    assert client.get(url).status_code == 403
    assert client.get(step(case, "note")).status_code == 403
    assert not AuditEvent.objects.filter(action="attachment.downloaded").exists()


def test_include_in_response_is_toggled_on_the_case_page_and_audited(
    client, officer, make_case, system_actor
):
    case = make_case()
    attachment = notes.add_attachment(
        case, actor=system_actor, upload=SimpleUploadedFile("answer.pdf", PDF)
    )
    client.force_login(officer)
    page = client.get(change_page(case))
    data = _form_data(page.context["adminform"].form, page.context["inline_admin_formsets"])
    prefix = next(f.formset.prefix for f in page.context["inline_admin_formsets"]
                  if f.formset.model is Attachment)
    data[f"{prefix}-0-include_in_response"] = "on"
    response = client.post(change_page(case), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    attachment.refresh_from_db()
    assert attachment.include_in_response is True
    event = AuditEvent.objects.get(action="attachment.response_flag_changed")
    assert event.details == {"attachment_id": attachment.pk, "include_in_response": True}
    assert event.actor_label == officer.username


def _form_data(form, inline_formsets) -> dict:
    """What the browser would post back for the case page as it stands."""
    data = {}
    for bound in form:
        value = bound.value()
        if value not in (None, ""):
            data[bound.html_name] = value
    for inline in inline_formsets:
        formset = inline.formset
        for bound in formset.management_form:
            data[bound.html_name] = bound.value()
        for sub in formset.forms:
            for bound in sub:
                value = bound.value()
                if value is True:
                    data[bound.html_name] = "on"
                elif value not in (None, "", False):
                    data[bound.html_name] = value
    return data


def test_manual_task_takes_the_vendors_answer_as_an_attachment(
    client, officer, make_case, system_actor, vendor_sandbox
):
    case = services.verify_identity(make_case(vendors=["id5"], actions=["access"]),
                                    actor=system_actor, method="ticketing_system")
    services.submit_case(case, actor=system_actor)
    manual = VendorJob.objects.get(case=case, status=JobStatus.MANUAL)
    client.force_login(officer)
    response = client.post(step(case, "manual_done"), {
        "job": manual.pk, "note": "ID5 replied by email: no data held",
        "attachment": SimpleUploadedFile("id5-reply.eml", b"From: privacy@id5.io\n\nNo data.\n"),
    })
    assert response.status_code == 302
    manual.refresh_from_db()
    assert manual.status == JobStatus.COMPLETE
    attachment = Attachment.objects.get(case=case)
    assert attachment.job == manual and attachment.name == "id5-reply.eml"
    download = reverse("admin:cases_case_attachment_download", args=[case.pk, attachment.pk])
    job_page = client.get(reverse("admin:cases_vendorjob_change", args=[manual.pk]))
    assert download in job_page.content.decode()
    assert download in client.get(change_page(case)).content.decode()


def test_manual_task_with_a_refused_answer_stays_open(
    client, officer, make_case, system_actor, vendor_sandbox, media
):
    case = services.verify_identity(make_case(vendors=["id5"], actions=["access"]),
                                    actor=system_actor, method="ticketing_system")
    services.submit_case(case, actor=system_actor)
    manual = VendorJob.objects.get(case=case, status=JobStatus.MANUAL)
    client.force_login(officer)
    response = client.post(step(case, "manual_done"), {
        "job": manual.pk, "note": "ID5 replied",
        "attachment": SimpleUploadedFile("reply.pdf", EXE),
    })
    assert response.status_code == 200 and "is a program" in response.content.decode()
    manual.refresh_from_db()
    assert manual.status == JobStatus.MANUAL
    assert stored_files(media) == [] and not Attachment.objects.exists()
