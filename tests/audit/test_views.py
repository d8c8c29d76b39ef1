"""Audit export downloads from the admin, and the admin home's audit trail box."""

import csv
import datetime as dt
import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from bench.fixtures import append_events
from cases.audit import chain_head, run_scheduled_verification
from cases.audit_views import export_cases_response
from cases.exports import EXPORTED_ACTION
from cases.models import AuditEvent, Case
from tests.audit.conftest import tamper

EXPORT = "admin:cases_auditevent_export"


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def jsonl_events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()][:-1]


def test_auditor_exports_the_whole_trail_as_csv(client, auditor, make_case):
    make_case()
    client.force_login(auditor)  # audited too (auth.login)
    head = chain_head()
    response = client.get(reverse(EXPORT), {"format": "csv"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["X-Audit-Chain-Head"] == f"{head.seq}:{head.hash}"
    assert f"-head{head.seq}.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(body(response))))
    assert len(rows) == head.seq + 2  # header, events, stamp
    event = AuditEvent.objects.get(action=EXPORTED_ACTION)
    assert event.actor_label == "arthur"
    assert event.details["events"] == head.seq


def test_export_takes_the_audit_changelist_filters(client, officer, make_case):
    case = make_case()
    make_case(subject_email="grace@example.org")
    client.force_login(officer)
    response = client.get(reverse(EXPORT), {
        "format": "jsonl", "action__exact": "case.created", "actor_type__exact": "system",
        "q": case.reference[-6:],
    })
    events = jsonl_events(body(response))
    assert [(e["action"], e["case_reference"]) for e in events] == [
        ("case.created", case.reference)
    ]
    details = AuditEvent.objects.get(action=EXPORTED_ACTION).details["filters"]
    assert details == {"action": "case.created", "actor_type": "system",
                       "reference_contains": case.reference[-6:]}


def test_export_by_case_reference_and_period(client, officer, make_case):
    case = make_case()
    append_events(3, cases=[(case.pk, case.reference)],
                  first_at=timezone.now() - dt.timedelta(days=10), step=dt.timedelta(days=1))
    client.force_login(officer)
    since = (timezone.localdate() - dt.timedelta(days=9)).isoformat()
    response = client.get(reverse(EXPORT), {"format": "jsonl", "case": case.reference,
                                            "since": since})
    events = jsonl_events(body(response))
    assert events and all(e["case_reference"] == case.reference for e in events)
    assert all(e["created_at"][:10] >= since for e in events)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"format": "xlsx"}, "Unknown format 'xlsx'"),
        ({"since": "31/12/2026"}, "'since' must be a date as YYYY-MM-DD"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "'since' must be on or before"),
        ({"case": "DSAR-1999-000001"}, "No case DSAR-1999-000001"),
        ({"case_id": "abc"}, "'case_id' must be a case's numeric id"),
        ({"case_id": "999999"}, "No case id 999999"),
        ({"actor_type__exact": "robot"}, "Unknown actor type 'robot'"),
    ],
)
def test_export_refuses_bad_filters_with_a_message(client, officer, query, message):
    client.force_login(officer)
    response = client.get(reverse(EXPORT), query)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AuditEvent.objects.filter(action=EXPORTED_ACTION).exists()


def test_export_needs_the_export_permission(client, django_user_model, make_case):
    make_case()
    viewer = django_user_model.objects.create_user("viewer", password="x" * 12, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(viewer)
    assert client.get(reverse(EXPORT)).status_code == 403
    client.logout()
    assert client.get(reverse(EXPORT)).status_code == 302


def test_changelist_action_exports_the_selected_cases(rf: RequestFactory, officer, make_case):
    first, second = make_case(), make_case(subject_email="grace@example.org")
    make_case(subject_email="alan@example.org")
    request = rf.get("/admin/cases/case/")
    request.user = officer
    # As the case changelist hands it over: with its select_related and ordering.
    queryset = Case.objects.filter(pk__in=[first.pk, second.pk]).select_related("assignee")
    response = export_cases_response(request, queryset, "jsonl")
    references = {e["case_reference"] for e in jsonl_events(body(response))}
    assert references == {first.reference, second.reference}
    assert "audit-trail-cases-" in response["Content-Disposition"]
    filters = AuditEvent.objects.get(action=EXPORTED_ACTION).details["filters"]
    assert filters["case_ids"] == sorted([first.pk, second.pk])


def test_changelist_action_refuses_users_without_export_permission(rf, make_case,
                                                                   django_user_model):
    from django.core.exceptions import PermissionDenied

    clerk = django_user_model.objects.create_user("clerk", password="x" * 12, is_staff=True)
    request = rf.get("/admin/cases/case/")
    request.user = clerk
    with pytest.raises(PermissionDenied):
        export_cases_response(request, Case.objects.all(), "csv")


# --------------------------------------------------------------------------- admin home box


def render_status(rf: RequestFactory, user) -> str:
    request = rf.get("/admin/")
    request.user = user
    return Template("{% load audit_tags %}{% audit_status %}").render(
        Context({"request": request})
    )


def test_home_box_says_when_the_chain_was_never_checked(rf, officer):
    assert "Not verified yet" in render_status(rf, officer)


def test_home_box_shows_the_last_check(rf, auditor, make_case):
    make_case()
    run_scheduled_verification()
    html = render_status(rf, auditor)
    assert "Hash chain intact: 1 event checked" in html
    assert "more than a day old" not in html
    assert "Request metrics report" in html


def test_home_box_warns_when_the_last_check_is_old(rf, auditor, make_case, monkeypatch):
    make_case()
    run_scheduled_verification()
    later = timezone.now() + dt.timedelta(days=2)
    monkeypatch.setattr("cases.templatetags.audit_tags.timezone.now", lambda: later)
    assert "more than a day old" in render_status(rf, auditor)


def test_home_box_shows_a_broken_chain(rf, auditor, make_case):
    make_case(), make_case(subject_email="grace@example.org")
    first = AuditEvent.objects.order_by("seq").first()
    tamper("DELETE FROM {table} WHERE id = %s", [first.pk])
    run_scheduled_verification()
    html = render_status(rf, auditor)
    assert "broken" in html and "event #2" in html


# --------------------------------------------------------------------------- what exports record


def bulk_cases(n: int, *, status: str = "new", first: int = 900000) -> list[Case]:
    today = timezone.localdate()
    return Case.objects.bulk_create(
        Case(reference=f"DSAR-2026-{first + i}", regulation="gdpr", actions="access",
             received_at=timezone.now(), due_date=today, original_due_date=today, status=status)
        for i in range(n)
    )


def test_select_all_export_records_the_filter_and_count_not_the_cases(client, auditor):
    cases = bulk_cases(3000)
    bulk_cases(1, status="rejected", first=800000)  # filtered out by the list's status filter
    client.force_login(auditor)
    url = reverse("admin:cases_case_changelist") + "?status__exact=new&q=DSAR-2026&p=2"
    response = client.post(url, {
        "action": "export_audit_csv", "select_across": "1", "index": "0",
        "_selected_action": [cases[0].pk],
    })
    assert response.status_code == 200
    assert "audit-trail-filtered-" in response["Content-Disposition"]
    stamp = body(response).splitlines()[-1]
    assert stamp.startswith("#stamp")
    assert len(stamp.encode()) < 600
    details = AuditEvent.objects.get(action=EXPORTED_ACTION).details
    assert len(json.dumps(details).encode()) < 600
    assert details["filters"] == {
        "case_count": 3000,
        "case_selection": {"select_all": True, "filters": {"status__exact": "new"},
                           "search": True},
    }
    assert "DSAR-2026" not in json.dumps(details)  # the search term is not kept


def test_explicit_selection_records_a_capped_list_and_the_count(rf: RequestFactory, officer):
    cases = bulk_cases(60)
    request = rf.post("/admin/cases/case/", {"select_across": "0"})
    request.user = officer
    response = export_cases_response(request, Case.objects.all(), "jsonl")
    assert "audit-trail-cases-60-" in response["Content-Disposition"]
    filters = AuditEvent.objects.get(action=EXPORTED_ACTION).details["filters"]
    assert filters["case_count"] == 60
    assert filters["cases_listed"] == 50
    assert filters["case_ids"] == sorted(case.pk for case in cases)[:50]
    assert len(filters["case_references"]) == 50
    stamp = json.loads(body(response).splitlines()[-1])["export"]
    assert stamp["filters"] == filters


@pytest.mark.parametrize(
    ("query", "scope"),
    [
        ({}, "-all-"),
        ({"action__exact": "case.created"}, "-filtered-"),
        ({"since": "2026-01-01"}, "-filtered-"),
        ({"q": "000013"}, "-filtered-"),
    ],
)
def test_export_file_name_says_what_was_exported(client, auditor, make_case, query, scope):
    make_case()
    client.force_login(auditor)
    response = client.get(reverse(EXPORT), {"format": "csv", **query})
    assert f"audit-trail{scope}" in response["Content-Disposition"]


def test_export_of_one_case_is_named_after_it(client, auditor, make_case):
    case = make_case()
    client.force_login(auditor)
    response = client.get(reverse(EXPORT), {"format": "csv", "case": case.reference})
    assert f'filename="audit-trail-{case.reference}-' in response["Content-Disposition"]


def test_export_never_records_an_email_typed_in_the_audit_search(client, auditor, make_case):
    make_case()
    client.force_login(auditor)
    client.get(reverse(EXPORT), {"format": "jsonl", "q": "ada.lovelace@example.org"})
    details = AuditEvent.objects.get(action=EXPORTED_ACTION).details
    assert details["filters"] == {"reference_contains": "(withheld)"}
