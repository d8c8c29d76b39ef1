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


def test_a_message_that_fails_for_good_is_a_webhook_event_without_text_or_address(
    settings, make_client, make_case, django_capture_on_commit_callbacks
):
    from cases.models import WebhookDelivery
    from tests.conftest import free_port

    client, _ = make_client("Hooked", webhook_url="https://hooks.example.com/pd")
    case = make_case(api_client=client, external_ref="T-9")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    with django_capture_on_commit_callbacks(execute=False):
        message = messaging.queue_message(case, MessageKind.ACKNOWLEDGEMENT,
                                          actor=Actor.system("t"))
    for _ in range(messaging.MAX_SEND_ATTEMPTS):
        Message.objects.filter(pk=message.pk).update(next_attempt_at=None)
        with django_capture_on_commit_callbacks(execute=False):
            messaging.deliver(message.pk)

    delivery = WebhookDelivery.objects.get(event="message.failed")
    assert delivery.case == case
    assert delivery.payload["message"] == {
        "id": message.pk, "kind": "acknowledgement", "status": "failed"
    }
    assert "lovelace" not in str(delivery.payload).lower()
