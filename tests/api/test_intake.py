import datetime as dt
import json

import pytest
from django.utils import timezone

from cases.api import intake
from cases.choices import CaseStatus
from cases.models import AuditEvent, Case, IdempotencyRecord
from tests.api.conftest import case_body, http_for

URL = "/api/v1/cases/"
CONTRACT_FIELDS = {
    "id", "reference", "external_ref", "status", "regulation", "actions", "received_at",
    "due_at", "days_left", "vendor_jobs", "results",
}


def _ids(n: int, namespace: str = "ecid") -> list[dict]:
    return [{"namespace": namespace, "value": f"4436365767997586810210907{i:04d}"}
            for i in range(n)]


def test_new_ticket_opens_a_case(api, ticketing):
    response = api.post(URL, case_body(), format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) >= CONTRACT_FIELDS
    case = Case.objects.get(pk=body["id"])
    assert case.api_client == ticketing
    assert body["reference"] == case.reference
    assert body["status"] == CaseStatus.NEW
    assert body["actions"] == ["access", "delete"]
    assert body["due_at"] == "2026-02-20"  # GDPR: one calendar month from receipt
    assert response["Location"].endswith(f"/api/v1/cases/{case.pk}/")
    assert case.subject.email == "ada.lovelace@example.org"


def test_the_case_is_audited_with_the_client_as_actor(api, ticketing):
    api.post(URL, case_body(), format="json")

    event = AuditEvent.objects.get(action="case.created")
    assert (event.actor_type, event.actor_id) == ("api_client", str(ticketing.pk))


def test_no_personal_data_comes_back(api):
    response = api.post(URL, case_body(), format="json")

    text = response.content.decode()
    assert "ada.lovelace" not in text
    assert "Lovelace" not in text
    assert "44363657679975868102109072127" not in text


def test_received_at_defaults_to_now(api):
    body = case_body()
    del body["received_at"]

    response = api.post(URL, body, format="json")

    received = dt.datetime.fromisoformat(response.json()["received_at"])
    assert abs(received - timezone.now()) < dt.timedelta(minutes=1)


def _messages(errors) -> str:
    return json.dumps(errors)


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"regulation": "gdpr2"}, "regulation", "Unknown regulation code 'gdpr2'"),
        ({"regulation": "cpra_usa"}, "regulation", "use 'cpra_ca_usa' instead"),
        ({"regulation": "ctdpa"}, "regulation", "use 'ctdpa_ct_usa' instead"),
        ({"actions": []}, "actions", "not be empty"),
        ({"actions": ["erase"]}, "actions", "not a valid choice"),
        ({"external_ref": ""}, "external_ref", "may not be blank"),
        ({"external_ref": "x" * 101}, "external_ref", "no more than 100"),
        ({"subject": {"name": "Ada", "email": "not-an-email"}}, "subject", "valid email"),
        ({"subject": {"name": "Ada"}}, "subject", "required"),
        ({"identities": []}, "identities", "At least one identity is required"),
        ({"identities": _ids(10)}, "identities", "at most 9 identities per user"),
        (
            {"identities": [{"namespace": "bad namespace!", "value": "x"}]},
            "identities", "not a valid namespace",
        ),
        (
            {"identities": [{"namespace": "loyaltyId", "value": "L-1", "type": "standard"}]},
            "identities", "send it with type 'custom'",
        ),
        (
            {"identities": [{"namespace": "email", "value": "nope"}]},
            "identities", "not a valid email address",
        ),
        (
            {"identities": [{"namespace": "id5id", "value": "XYZ-123456"}]},
            "identities", "An ID5 id starts with 'ID5*'",
        ),
        ({"identities": [{"namespace": "gaid", "value": "1234"}]}, "identities", "UUID"),
        (
            {"identities": [{"namespace": "email", "value": "a@example.org", "type": "weird"}]},
            "identities", "not a valid choice",
        ),
        (
            {"identities": [{"namespace": "email", "value": "a@example.org"}] * 2},
            "identities", "listed twice",
        ),
        ({"received_at": "2999-01-01T00:00:00Z"}, "received_at", "cannot be in the future"),
        ({"received_at": "2026-01-20T10:00:00"}, "received_at", "time zone"),
        ({"received_at": "yesterday"}, "received_at", "wrong format"),
        ({"vendors": ["adobe_hygiene"]}, "vendors", "non-DSAR vendor"),
        ({"adobe_products": ["CJM", "photoshop"]}, "adobe_products", "photoshop"),
        ({"submit": "perhaps"}, "submit", "valid boolean"),
    ],
)
def test_bad_input_is_400_with_a_message_for_the_field(api, overrides, field, fragment):
    response = api.post(URL, case_body(**overrides), format="json")

    assert response.status_code == 400, response.content
    errors = response.json()
    assert fragment in _messages(errors[field])
    assert Case.objects.count() == 0


def test_a_receipt_date_older_than_the_limit_is_400_on_the_field(api, settings):
    settings.MAX_RECEIPT_AGE_DAYS = 365

    response = api.post(URL, case_body(received_at="2019-03-01T10:00:00Z"), format="json")

    assert response.status_code == 400, response.content
    [message] = response.json()["received_at"]
    assert message.startswith("The receipt date 2019-03-01 is more than 365 days ago")
    assert Case.objects.count() == 0


def test_a_receipt_date_within_the_limit_is_accepted_with_this_years_reference(api, settings):
    settings.MAX_RECEIPT_AGE_DAYS = 365
    received = timezone.now() - dt.timedelta(days=300)

    response = api.post(URL, case_body(received_at=received.isoformat()), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["reference"].startswith(f"DSAR-{timezone.localdate().year}-")


def test_unknown_product_and_vendor_codes_are_named_in_plain_words(api):
    body = case_body(adobe_products=["analytics", "notaproduct"], vendors=["adobe_hygiene", "x"])

    errors = api.post(URL, body, format="json").json()

    assert errors["adobe_products"] == [
        "Unknown Adobe product code: notaproduct. Use one of: adCloud, analytics, "
        "audienceManager, campaign, aepDataLake, AdobeCloudPlatform, profileService, "
        "primetimeAuthentication, target, CRS, CJM, identity, marketo, marketomeasure."
    ]
    assert errors["vendors"] == [
        "Unknown or non-DSAR vendors: adobe_hygiene, x. Use one of: adobe_privacy, id5 "
        "(Data Hygiene is a separate officer action)."
    ]


def test_every_problem_is_reported_at_once(api):
    body = case_body(regulation="cpa", identities=[], actions=["erase"])

    errors = api.post(URL, body, format="json").json()

    assert {"regulation", "identities", "actions"} <= set(errors)


def test_a_body_that_is_not_an_object_is_400(api):
    response = api.post(URL, [1, 2], format="json")

    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_same_ticket_again_returns_the_existing_case(api):
    first = api.post(URL, case_body(), format="json")
    second = api.post(URL, case_body(), format="json")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert Case.objects.count() == 1


def test_same_ticket_with_a_different_body_is_409(api):
    api.post(URL, case_body(), format="json")

    response = api.post(URL, case_body(regulation="ccpa"), format="json")

    assert response.status_code == 409
    assert "different request body" in response.json()["detail"]
    assert Case.objects.count() == 1


def test_the_same_ticket_id_from_another_client_is_another_case(api, make_client):
    _, other_key = make_client("Other desk")
    first = api.post(URL, case_body(), format="json")

    second = http_for(other_key).post(URL, case_body(), format="json")

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]


def test_idempotency_key_replays_the_first_response_exactly(api):
    first = api.post(URL, case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    Case.objects.filter(pk=first.json()["id"]).update(status=CaseStatus.VERIFIED)

    again = api.post(URL, case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert again.status_code == first.status_code == 201
    assert again.content == first.content  # the first answer, not the case as it is now
    assert again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]
    assert IdempotencyRecord.objects.count() == 1


def test_idempotency_key_with_a_different_body_is_409(api):
    api.post(URL, case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    response = api.post(URL, case_body(external_ref="TICKET-9"), format="json",
                        HTTP_IDEMPOTENCY_KEY="k-1")

    assert response.status_code == 409
    assert "Idempotency-Key" in response.json()["detail"]
    assert Case.objects.count() == 1


def test_a_new_key_for_a_known_ticket_stores_the_200(api):
    api.post(URL, case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    response = api.post(URL, case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-2")

    assert response.status_code == 200
    assert IdempotencyRecord.objects.get(key="k-2").response_status == 200


def test_a_400_is_not_stored_under_the_key(api):
    bad = api.post(URL, case_body(regulation="nope"), format="json", HTTP_IDEMPOTENCY_KEY="k")
    good = api.post(URL, case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert (bad.status_code, good.status_code) == (400, 201)


def test_an_overlong_idempotency_key_is_400(api):
    response = api.post(URL, case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()


def test_submit_true_hands_the_case_to_the_workflow(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(URL, case_body(submit=True, vendors=["adobe_privacy"]),
                            format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] in (CaseStatus.IN_PROGRESS, CaseStatus.ACTION_REQUIRED)
    assert [(j["vendor"], j["action"]) for j in body["vendor_jobs"]] == [
        ("adobe_privacy", "access"), ("adobe_privacy", "delete"),
    ]
    assert callbacks, "sending is queued on commit"
    assert AuditEvent.objects.filter(action="case.submitted", actor_type="api_client").exists()


def test_old_idempotency_records_are_purged(api):
    api.post(URL, case_body(), format="json", HTTP_IDEMPOTENCY_KEY="old")
    api.post(URL, case_body(external_ref="T-2"), format="json", HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - intake.IDEMPOTENCY_TTL - dt.timedelta(days=1)
    )

    intake.purge_idempotency_records()

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
