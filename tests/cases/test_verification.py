"""Identity verification: every method, its evidence, and the email-link tokens."""

import datetime as dt
import hashlib
import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from cases import services, verification
from cases.audit import Actor
from cases.choices import CaseStatus, MessageKind, TokenState, VerificationMethod
from cases.models import AuditEvent, Case, Message, PortalToken, TransitionError

OFFICER = Actor("user", "7", "olivia")
LINK = re.compile(r"http://testserver/portal/verify/([A-Za-z0-9_-]+)/")


@pytest.fixture(autouse=True)
def _portal_base(settings):
    settings.PUBLIC_BASE_URL = "http://testserver"


def token_from_message(case: Case) -> str:
    body = Message.objects.filter(case=case, kind=MessageKind.VERIFICATION_REQUEST).last().body
    return LINK.search(body).group(1)


def audit(case: Case, action: str) -> list[dict]:
    return [e.details for e in AuditEvent.objects.filter(case=case, action=action)]


@pytest.mark.parametrize(
    ("method", "note"),
    [
        ("ticketing_system", ""),
        ("ticketing_system", "Checked against the CRM login"),
        ("document", "Passport: name and photo match; copy not kept"),
        ("account_login", ""),
        ("other", "Called back on the number in the contract"),
    ],
)
def test_each_method_records_who_when_and_the_evidence(make_case, method, note):
    case = make_case()

    services.verify_identity(case, actor=OFFICER, method=method, note=note)

    case.refresh_from_db()
    assert case.status == CaseStatus.VERIFIED
    assert case.verification_method == method
    assert case.verified_by == "olivia"
    assert timezone.now() - case.verified_at < dt.timedelta(minutes=1)
    assert case.verification_note == note
    assert audit(case, "case.identity_verified") == [{"method": method, "note_given": bool(note)}]


def test_the_evidence_note_is_encrypted_at_rest_and_kept_out_of_the_audit(make_case):
    case = make_case()
    services.verify_identity(case, actor=OFFICER, method="document",
                             note="Passport 123456789 checked")

    with connection.cursor() as cursor:
        cursor.execute("SELECT verification_note FROM cases_case WHERE id = %s", [case.pk])
        stored = cursor.fetchone()[0]
    assert "123456789" not in stored
    trail = json.dumps([e.details for e in AuditEvent.objects.filter(case=case)])
    assert "123456789" not in trail


@pytest.mark.parametrize("method", ["document", "other"])
def test_document_and_other_need_a_note(make_case, method):
    case = make_case()

    with pytest.raises(ValidationError) as refused:
        services.verify_identity(case, actor=OFFICER, method=method, note="   ")

    assert "note" in refused.value.message_dict
    assert Case.objects.get(pk=case.pk).status == CaseStatus.NEW


def test_an_unknown_method_is_refused_naming_the_methods(make_case):
    with pytest.raises(ValidationError) as refused:
        services.verify_identity(make_case(), actor=OFFICER, method="telepathy")

    assert "email_link" in refused.value.message_dict["method"][0]


def test_vendors_receive_only_verified_cases(make_case):
    case = make_case()

    with pytest.raises(TransitionError, match="only verified cases"):
        services.submit_case(case, actor=OFFICER)

    assert not case.jobs.exists()
    assert Case.objects.get(pk=case.pk).status == CaseStatus.NEW


def test_email_link_sends_a_link_and_leaves_the_case_new(make_case):
    case = make_case()

    services.verify_identity(case, actor=OFFICER, method="email_link")

    case.refresh_from_db()
    assert case.status == CaseStatus.NEW and case.verified_at is None
    assert case.verification_method == VerificationMethod.EMAIL_LINK
    message = Message.objects.get(case=case, kind=MessageKind.VERIFICATION_REQUEST)
    token = token_from_message(case)
    row = PortalToken.objects.get(case=case)
    assert row.message == message and row.purpose == "verify"
    [sent] = audit(case, "verification.link_sent")
    assert sent["token_id"] == row.pk and sent["message_id"] == message.pk
    assert token not in json.dumps(sent)


def test_a_token_is_random_long_and_stored_only_as_its_sha256(make_case):
    case = make_case()
    link = verification.send_link(case, actor=OFFICER)
    token = LINK.search(link).group(1)

    row = PortalToken.objects.get(case=case)
    assert len(token) >= 43  # 32 bytes, URL-safe base64
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM cases_portaltoken")
        assert token not in json.dumps(cursor.fetchall(), default=str)
    other = verification.send_link(make_case(), actor=OFFICER)
    assert other != link


def test_the_link_expires_after_verify_link_days(make_case, settings):
    settings.VERIFY_LINK_DAYS = 3
    case = make_case()
    token = LINK.search(verification.send_link(case, actor=OFFICER)).group(1)
    row = PortalToken.objects.get(case=case)

    assert row.expires_at - row.created_at == dt.timedelta(days=3)
    PortalToken.objects.filter(pk=row.pk).update(expires_at=timezone.now())

    assert verification.confirm(token) == TokenState.EXPIRED
    assert Case.objects.get(pk=case.pk).status == CaseStatus.NEW
    assert audit(case, "portal.link_refused")[0]["state"] == "expired"


def test_confirming_verifies_once(make_case):
    case = make_case()
    token = LINK.search(verification.send_link(case, actor=OFFICER)).group(1)

    assert verification.open_link(token) == TokenState.VALID
    assert Case.objects.get(pk=case.pk).status == CaseStatus.NEW  # opening verifies nothing
    assert verification.confirm(token) == TokenState.VALID
    assert verification.confirm(token) == TokenState.USED

    case.refresh_from_db()
    assert case.status == CaseStatus.VERIFIED
    assert case.verification_method == VerificationMethod.EMAIL_LINK
    assert case.verified_by == verification.SUBJECT.label
    row = PortalToken.objects.get(case=case)
    assert audit(case, "case.identity_verified") == [
        {"method": "email_link", "note_given": False, "token_id": row.pk}
    ]
    assert [d["state"] for d in audit(case, "portal.link_refused")] == ["used"]
    assert len(audit(case, "portal.link_opened")) == 1
    assert len(audit(case, "portal.link_confirmed")) == 1


def test_a_new_link_revokes_the_earlier_one(make_case):
    case = make_case()
    first = LINK.search(verification.send_link(case, actor=OFFICER)).group(1)
    second = LINK.search(verification.send_link(case, actor=OFFICER)).group(1)

    assert verification.confirm(first) == TokenState.REVOKED
    assert verification.confirm(second) == TokenState.VALID
    assert [d["reason"] for d in audit(case, "verification.link_revoked")] == ["replaced"]


def test_an_officer_revokes_the_link(make_case):
    case = make_case()
    token = LINK.search(verification.send_link(case, actor=OFFICER)).group(1)

    assert verification.revoke(case, actor=OFFICER) == 1
    assert verification.confirm(token) == TokenState.REVOKED
    with pytest.raises(TransitionError, match="no verification link"):
        verification.revoke(case, actor=OFFICER)
    assert audit(case, "verification.link_revoked")[0]["reason"] == "officer"


def test_verifying_another_way_revokes_the_link(make_case):
    case = make_case()
    token = LINK.search(verification.send_link(case, actor=OFFICER)).group(1)

    services.verify_identity(case, actor=OFFICER, method="account_login")

    assert verification.confirm(token) == TokenState.REVOKED
    assert Case.objects.get(pk=case.pk).verification_method == "account_login"


def test_a_link_to_a_case_that_moved_on_is_refused_not_an_error(make_case):
    case = make_case()
    token = LINK.search(verification.send_link(case, actor=OFFICER)).group(1)
    services.put_on_hold(case, actor=OFFICER, reason="Waiting for the subject")

    assert verification.confirm(token) == TokenState.REVOKED
    assert Case.objects.get(pk=case.pk).status == CaseStatus.ON_HOLD


def test_a_token_serves_one_purpose_only(make_case):
    case = make_case()
    row, token = verification.issue_token(case, "response", 7)

    assert verification.find(token, "verify").state == TokenState.UNKNOWN
    assert verification.find(token, "response").token == row


def test_unknown_and_oversized_tokens_are_unknown(db):
    assert verification.confirm("nope") == TokenState.UNKNOWN
    assert verification.open_link("x" * 5000) == TokenState.UNKNOWN
    assert not AuditEvent.objects.filter(action__startswith="portal.").exists()


def test_only_a_new_case_gets_a_link(make_case):
    case = services.verify_identity(make_case(), actor=OFFICER, method="account_login")

    with pytest.raises(TransitionError, match="only a new case"):
        services.verify_identity(case, actor=OFFICER, method="email_link")
    assert not PortalToken.objects.exists()


def test_confirming_submits_when_the_client_asked(make_case):
    case = make_case()
    token = LINK.search(
        verification.send_link(case, actor=OFFICER, submit_when_confirmed=True)
    ).group(1)

    verification.confirm(token)

    case.refresh_from_db()
    assert case.status in (CaseStatus.IN_PROGRESS, CaseStatus.ACTION_REQUIRED)
    assert case.jobs.exists()
    submitted = AuditEvent.objects.get(case=case, action="case.submitted")
    assert submitted.actor_label == verification.SUBJECT.label


def test_confirming_without_the_intent_does_not_submit(make_case):
    case = make_case()
    token = LINK.search(verification.send_link(case, actor=OFFICER)).group(1)

    verification.confirm(token)

    assert Case.objects.get(pk=case.pk).status == CaseStatus.VERIFIED
    assert not Case.objects.get(pk=case.pk).jobs.exists()


def test_the_case_page_line_says_what_waits(make_case):
    case = make_case()
    assert verification.describe(case) == "Not verified."

    verification.send_link(case, actor=OFFICER)
    assert "waiting for the subject to press Confirm" in verification.describe(case)

    verification.revoke(case, actor=OFFICER)
    assert "revoked" in verification.describe(case)

    services.verify_identity(case, actor=OFFICER, method="document", note="Driving licence")
    text = verification.describe(Case.objects.get(pk=case.pk))
    assert text.startswith("ID document checked by an officer, recorded by olivia on ")
    assert text.endswith("Evidence: Driving licence")
