"""Acknowledgement at intake (API and admin), its legal deadline, and the queue's flag for it."""

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from cases import deadlines, messaging
from cases.audit import Actor
from cases.choices import MessageKind, MessageStatus
from cases.models import Case, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


# --- The deadline -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (dt.date(2026, 11, 20), dt.date(2026, 12, 4)),  # a Friday: two full weeks of weekdays
        (dt.date(2026, 11, 21), dt.date(2026, 12, 4)),  # a Saturday: Monday is business day 1
        (dt.date(2026, 11, 23), dt.date(2026, 12, 7)),  # a Monday
    ],
)
def test_ccpa_family_acknowledges_within_10_business_days(received, due):
    assert deadlines.acknowledge_by("ccpa", received) == due
    assert deadlines.acknowledge_by("cpra_ca_usa", received) == due
    rule = deadlines.acknowledgement_rule("ccpa")
    assert rule.business_days == 10 and rule.source == "Cal. Code Regs. tit. 11 § 7021(a)"


def test_laws_without_an_acknowledgement_deadline_have_none():
    assert deadlines.acknowledge_by("gdpr", dt.date(2026, 11, 20)) is None
    assert deadlines.acknowledge_by("vcdpa_va_usa", dt.date(2026, 11, 20)) is None


def test_a_case_carries_its_acknowledgement_deadline(make_case):
    received = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)

    assert make_case(regulation="ccpa", received_at=received).acknowledge_by == dt.date(2026, 12, 4)
    assert make_case(received_at=received).acknowledge_by is None


# --- Intake ---------------------------------------------------------------------------------------


def test_admin_intake_queues_and_sends_the_acknowledgement(
    officer_client, django_capture_on_commit_callbacks
):
    form = {
        "regulation": "cpra_ca_usa", "actions": ["access"], "received_at": "",
        "subject_name": "Grace Hopper", "subject_email": "grace@example.org",
        "include_email_identity": "on", "identities": "", "external_ref": "MAIL-7",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = officer_client.post(reverse("admin:cases_case_add"), form)

    case = Case.objects.get(external_ref="MAIL-7")
    assert response.status_code == 302
    message = Message.objects.get(case=case)
    assert message.kind == MessageKind.ACKNOWLEDGEMENT and message.status == MessageStatus.SENT
    assert mail.outbox[0].to == ["grace@example.org"]
    page = officer_client.get(response.url).content.decode()
    assert "Acknowledged on" in page and 'pd-msg-sent">Sent<' in page


# --- The queue flags cases whose acknowledgement is late ----------------------------------------


def test_queue_flags_ccpa_cases_not_acknowledged_with_their_ack_date(
    officer_client, make_case, django_capture_on_commit_callbacks
):
    now = timezone.now()
    late = make_case(regulation="ccpa", received_at=now - dt.timedelta(days=20))
    fresh = make_case(regulation="ccpa", received_at=now - dt.timedelta(days=1))
    done = make_case(regulation="ccpa", received_at=now - dt.timedelta(days=20))
    gdpr = make_case(regulation="gdpr", received_at=now - dt.timedelta(days=20))
    with django_capture_on_commit_callbacks(execute=True):
        messaging.queue_message(done, MessageKind.ACKNOWLEDGEMENT, actor=Actor.system("t"))
    changelist = reverse("admin:cases_case_changelist")

    overdue = officer_client.get(changelist, {"messages": "ack_overdue"})
    awaiting = officer_client.get(changelist, {"messages": "ack_awaiting"})
    home = officer_client.get(reverse("admin:index")).content.decode()

    def refs(response):
        return {c.reference for c in response.context["cl"].result_list}

    assert refs(overdue) == {late.reference}
    assert refs(awaiting) == {late.reference, fresh.reference}
    html = overdue.content.decode()
    assert f"ack overdue since {late.acknowledge_by.isoformat()}" in html
    assert gdpr.reference not in refs(awaiting) and done.reference not in refs(awaiting)
    assert "Acknowledgement not sent" in home
    assert f"ack by {fresh.acknowledge_by.isoformat()}" in home
