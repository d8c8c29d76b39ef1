"""The officer's side of verification: the Verify identity form, re-send and revoke."""

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cases import notes as case_notes
from cases import verification
from cases.audit import Actor
from cases.choices import CaseStatus, MessageKind
from cases.forms import VerifyForm
from cases.models import Attachment, AuditEvent, Case, Message, PortalToken


@pytest.fixture(autouse=True)
def _portal_base(settings):
    settings.PUBLIC_BASE_URL = "http://testserver"


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


def step_url(name: str, case: Case) -> str:
    return reverse(f"admin:cases_case_step_{name}", args=[case.pk])


def notes(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_verify_form_offers_every_method(officer_client, make_case):
    html = officer_client.get(step_url("verify", make_case())).content.decode()

    for value in ("email_link", "ticketing_system", "document", "account_login", "other"):
        assert f'value="{value}"' in html
    assert 'name="note"' in html


def test_a_document_without_a_note_is_refused_on_the_form(officer_client, make_case):
    case = make_case()

    response = officer_client.post(step_url("verify", case), {"method": "document"})

    assert response.status_code == 200
    assert b"needs a note saying what was checked" in response.content
    assert Case.objects.get(pk=case.pk).status == CaseStatus.NEW


def test_a_document_with_its_note_verifies_and_shows_on_the_case_page(officer_client, make_case,
                                                                      officer):
    case = make_case()

    response = officer_client.post(step_url("verify", case),
                                   {"method": "document", "note": "Passport, photo matches"})
    page = officer_client.get(reverse("admin:cases_case_change", args=[case.pk]))

    assert response.status_code == 302
    assert f"Case {case.reference} verified." in notes(response)
    assert b"ID document checked by an officer, recorded by olivia" in page.content
    assert b"Evidence: Passport, photo matches" in page.content


def test_email_link_from_the_form_sends_the_link(officer_client, make_case):
    case = make_case()

    response = officer_client.post(step_url("verify", case), {"method": "email_link"})

    assert f"Case {case.reference} sent a verification link: the case stays new until the " \
        "subject confirms." in notes(response)
    assert Case.objects.get(pk=case.pk).status == CaseStatus.NEW
    message = Message.objects.get(case=case, kind=MessageKind.VERIFICATION_REQUEST)
    assert "http://testserver/portal/verify/" in message.body


def test_resend_and_revoke_buttons(officer_client, make_case):
    case = make_case()
    first = verification.send_link(case, actor=Actor.system("t"))
    page = officer_client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()

    assert step_url("resend_link", case) in page and step_url("revoke_link", case) in page
    officer_client.post(step_url("resend_link", case))
    assert PortalToken.objects.filter(case=case).count() == 2
    assert verification.confirm(first.rsplit("/", 2)[-2]) == "revoked"

    revoked = officer_client.post(step_url("revoke_link", case))
    assert f"Case {case.reference} verification link revoked." in notes(revoked)
    assert not verification.live_links(case).exists()
    page = officer_client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    assert step_url("revoke_link", case) not in page


def test_the_checked_document_is_kept_as_an_encrypted_attachment(officer_client, make_case,
                                                                 settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    case = make_case()
    scan = b"%PDF-1.7\npassport scan\n%%EOF\n"

    response = officer_client.post(step_url("verify", case), {
        "method": "document", "note": "Passport, photo matches",
        "evidence": SimpleUploadedFile("passport.pdf", scan),
    })

    assert response.status_code == 302
    attachment = Attachment.objects.get(case=case)
    assert attachment.name == "passport.pdf" and case_notes.attachment_bytes(attachment) == scan
    assert b"passport scan" not in next(tmp_path.rglob("*.bin")).read_bytes()
    event = AuditEvent.objects.get(case=case, action="case.identity_verified")
    assert event.details["evidence_file"] is True
    assert Case.objects.get(pk=case.pk).status == CaseStatus.VERIFIED


def test_a_refused_evidence_file_leaves_the_case_unverified(officer_client, make_case, settings,
                                                            tmp_path):
    settings.MEDIA_ROOT = tmp_path
    case = make_case()

    response = officer_client.post(step_url("verify", case), {
        "method": "document", "note": "Passport",
        "evidence": SimpleUploadedFile("passport.pdf", b"MZ\x90\x00 not a pdf"),
    })

    assert response.status_code == 200
    assert Case.objects.get(pk=case.pk).status == CaseStatus.NEW
    assert not Attachment.objects.exists() and not list(tmp_path.rglob("*.bin"))


def test_bulk_verification_offers_no_evidence_file(officer_client, make_case):
    assert "evidence" not in VerifyForm(case=None).fields
    assert "evidence" in VerifyForm(case=make_case()).fields
