"""The API's view of messages: acknowledgement at intake, `acknowledged_at` and `messages`
(kind, status, sent_at; never the text or the recipient)."""

from django.core import mail

from cases import messaging
from cases.audit import Actor
from cases.choices import MessageKind
from cases.models import Case, Message
from tests.api.conftest import case_body


def test_api_intake_queues_and_sends_the_acknowledgement(
    api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/cases/", case_body(regulation="ccpa"), format="json")

    assert created.status_code == 201
    assert created.json()["messages"] == [
        {"kind": "acknowledgement", "status": "queued", "sent_at": None}
    ]
    [sent] = mail.outbox
    case = Case.objects.get(pk=created.json()["id"])
    assert sent.to == ["ada.lovelace@example.org"] and case.reference in sent.subject
    body = api.get(f"/api/v1/cases/{case.pk}/").json()
    message = Message.objects.get(case=case)
    assert body["acknowledged_at"] is not None
    assert body["messages"] == [{
        "kind": "acknowledgement", "status": "sent",
        "sent_at": message.sent_at.isoformat().replace("+00:00", "Z"),
    }]
    assert "ada.lovelace" not in str(body) and "Hello" not in str(body)


def test_api_intake_repeat_does_not_acknowledge_twice(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/cases/", case_body(), format="json")
        repeat = api.post("/api/v1/cases/", case_body(), format="json")

    assert repeat.status_code == 200
    assert Message.objects.count() == 1 and len(mail.outbox) == 1


def test_api_intake_without_auto_acknowledge_sends_nothing(settings, api):
    settings.AUTO_ACKNOWLEDGE = False

    created = api.post("/api/v1/cases/", case_body(regulation="ccpa"), format="json")

    assert created.json()["messages"] == [] and created.json()["acknowledged_at"] is None


def test_the_case_list_keeps_a_constant_query_count_with_messages(
    api, ticketing, make_case, django_assert_num_queries
):
    for i in range(4):
        case = make_case(api_client=ticketing, external_ref=f"T-{i}")
        messaging.queue_message(case, MessageKind.ACKNOWLEDGEMENT, actor=Actor.system("t"))

    with django_assert_num_queries(6):  # key, count, page, jobs, results, messages
        listed = api.get("/api/v1/cases/").json()["results"]

    assert [c["messages"][0]["kind"] for c in listed] == ["acknowledgement"] * 4
