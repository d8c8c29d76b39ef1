"""Verification through the API: intake forms, `submit: true`, the case's field, the webhook."""

import json
import re

import pytest

from cases import verification
from cases.choices import CaseStatus, MessageKind
from cases.models import AuditEvent, Case, Message, WebhookDelivery
from tests.api.conftest import case_body

URL = "/api/v1/cases/"
LINK = re.compile(r"http://testserver/portal/verify/([A-Za-z0-9_-]+)/")


@pytest.fixture(autouse=True)
def _portal_base(settings):
    settings.PUBLIC_BASE_URL = "http://testserver"


def token_of(case_id: int) -> str:
    message = Message.objects.get(case_id=case_id, kind=MessageKind.VERIFICATION_REQUEST)
    return LINK.search(message.body).group(1)


def test_a_case_without_verification_says_so(api):
    body = api.post(URL, case_body(), format="json").json()

    assert body["status"] == CaseStatus.NEW
    assert body["verification"] == {"method": None, "verified_at": None}


def test_email_link_emails_the_subject_and_waits(api):
    response = api.post(URL, case_body(verification={"method": "email_link"}), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == CaseStatus.NEW
    assert body["verification"] == {"method": "email_link", "verified_at": None}
    assert {"kind": "verification_request", "status": "queued", "sent_at": None} in (
        body["messages"]
    )
    assert token_of(body["id"])


def test_ticketing_system_with_a_note_records_the_callers_check(api, ticketing):
    response = api.post(URL, case_body(verification={
        "method": "ticketing_system", "note": "Logged in to the customer portal"}), format="json")

    body = response.json()
    assert response.status_code == 201
    assert body["status"] == CaseStatus.VERIFIED
    assert body["verification"]["method"] == "ticketing_system"
    assert body["verification"]["verified_at"]
    assert "Logged in" not in response.content.decode()  # the note is never returned
    case = Case.objects.get(pk=body["id"])
    assert case.verification_note == "Logged in to the customer portal"
    assert case.verified_by == ticketing.name


@pytest.mark.parametrize("method", ["document", "account_login", "other"])
def test_any_method_is_accepted(api, method):
    response = api.post(URL, case_body(verification={"method": method, "note": "Checked"}),
                        format="json")

    assert response.status_code == 201
    assert response.json()["verification"]["method"] == method


@pytest.mark.parametrize(
    ("verification", "field"),
    [
        ({"method": "telepathy"}, "method"),
        ({}, "method"),
        ({"method": "other"}, "note"),
        ({"method": "document", "note": "  "}, "note"),
        ({"method": "ticketing_system", "note": "x" * 2001}, "note"),
        ("email_link", "non_field_errors"),
    ],
)
def test_bad_verification_is_400_per_field(api, verification, field):
    response = api.post(URL, case_body(verification=verification), format="json")

    assert response.status_code == 400
    assert field in response.json()["verification"]
    assert not Case.objects.exists()


def test_submit_without_verification_records_the_caller_vouching(api, ticketing):
    body = api.post(URL, case_body(submit=True), format="json").json()

    assert body["status"] in (CaseStatus.IN_PROGRESS, CaseStatus.ACTION_REQUIRED)
    assert body["verification"]["method"] == "ticketing_system"
    actions = list(AuditEvent.objects.filter(case_id=body["id"]).values_list("action", flat=True))
    assert actions.index("case.identity_verified") < actions.index("case.submitted")


def test_submit_with_email_link_submits_only_after_the_subject_confirms(api):
    body = api.post(URL, case_body(submit=True, verification={"method": "email_link"}),
                    format="json").json()

    assert body["status"] == CaseStatus.NEW and body["vendor_jobs"] == []
    waiting = api.post(f"{URL}{body['id']}/submit/")
    assert waiting.status_code == 409
    assert "waits for the subject to confirm" in waiting.json()["detail"]

    verification.confirm(token_of(body["id"]))

    after = api.get(f"{URL}{body['id']}/").json()
    assert after["status"] in (CaseStatus.IN_PROGRESS, CaseStatus.ACTION_REQUIRED)
    assert after["vendor_jobs"]
    assert after["verification"]["method"] == "email_link"
    assert after["verification"]["verified_at"]


def test_email_link_without_submit_stays_verified_after_confirm(api):
    body = api.post(URL, case_body(verification={"method": "email_link"}), format="json").json()

    verification.confirm(token_of(body["id"]))

    after = api.get(f"{URL}{body['id']}/").json()
    assert after["status"] == CaseStatus.VERIFIED and after["vendor_jobs"] == []


def test_submit_endpoint_vouches_for_a_plain_new_case(api):
    body = api.post(URL, case_body(), format="json").json()

    response = api.post(f"{URL}{body['id']}/submit/")

    assert response.status_code == 200
    assert response.json()["verification"]["method"] == "ticketing_system"


def test_a_repeat_with_another_verification_is_a_conflict(api):
    first = api.post(URL, case_body(verification={"method": "email_link"}), format="json")
    same = api.post(URL, case_body(verification={"method": "email_link"}), format="json")
    other = api.post(URL, case_body(verification={"method": "account_login"}), format="json")

    assert (first.status_code, same.status_code, other.status_code) == (201, 200, 409)
    assert Message.objects.filter(kind=MessageKind.VERIFICATION_REQUEST).count() == 1


def test_the_subject_confirming_fires_a_case_verified_webhook(make_client):
    from tests.api.conftest import http_for

    client, key = make_client("Hooked", webhook_url="https://hooks.example.com/pd")
    body = http_for(key).post(URL, case_body(verification={"method": "email_link"}),
                              format="json").json()

    verification.confirm(token_of(body["id"]))

    delivery = WebhookDelivery.objects.get(event="case.verified")
    assert delivery.payload["id"] == body["id"]
    assert delivery.payload["status"] == "verified"
    assert delivery.payload["verification"]["method"] == "email_link"
    text = json.dumps(delivery.payload)
    assert "lovelace" not in text.lower() and token_of(body["id"]) not in text


def test_the_schema_documents_verification(api):
    schema = api.get("/api/v1/schema/?format=json").json()
    components = schema["components"]["schemas"]

    assert "verification" in components["CaseCreateRequest"]["properties"]
    assert set(components["VerificationState"]["properties"]) == {"method", "verified_at"}
    assert "verification" in components["Case"]["properties"]
