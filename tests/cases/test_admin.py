"""The officers' admin: queue, case page, steps through services, permissions, query counts."""

import datetime as dt
import json
import re

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases import services
from cases.audit import Actor
from cases.choices import CaseStatus, JobStatus
from cases.forms import DataSubjectForm
from cases.models import AuditEvent, Case, Identity, ResultFile, VendorJob
from cases.templatetags.case_admin import officer_queue_boxes

CHANGELIST = "admin:cases_case_changelist"


def days_ago(n: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=n)


def ccpa_case(make_case, days_received_ago: int, **overrides) -> Case:
    """CCPA gives 45 calendar days, so days left = 45 - days_received_ago."""
    return make_case(regulation="ccpa", received_at=days_ago(days_received_ago), **overrides)


def set_status(case: Case, status: str) -> Case:
    # Test set-up only: the services that move a case into in_progress/completed belong to the
    # workflow layer, which is not part of this suite.
    Case.objects.filter(pk=case.pk).update(status=status)
    case.refresh_from_db()
    return case


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def listed(response) -> list[str]:
    return [case.reference for case in response.context["cl"].result_list]


def step_url(name: str, case: Case) -> str:
    return reverse(f"admin:cases_case_step_{name}", args=[case.pk])


def case_url(case: Case) -> str:
    return reverse("admin:cases_case_change", args=[case.pk])


def refreshed(case: Case) -> Case:
    return Case.objects.get(pk=case.pk)


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


@pytest.fixture
def auditor_client(client, auditor):
    client.force_login(auditor)
    return client


@pytest.fixture
def other_officer(db) -> User:
    user = User.objects.create_user("oscar", is_staff=True)
    user.groups.add(Group.objects.get(name="Compliance officer"))
    return user


def add_job(case: Case, vendor: str = "adobe_privacy", action: str = "access", **fields):
    return VendorJob.objects.create(case=case, vendor=vendor, action=action, **fields)


# --- Case list --------------------------------------------------------------------------------


def test_case_list_shows_status_pill_and_days_left_in_words(officer_client, make_case):
    late = ccpa_case(make_case, 50)
    soon = ccpa_case(make_case, 42)
    ten = ccpa_case(make_case, 37)
    later = ccpa_case(make_case, 1)
    held = services.put_on_hold(ccpa_case(make_case, 1), actor=Actor.system(), reason="ID proof")
    rejected = services.reject(
        ccpa_case(make_case, 1), actor=Actor.system(), reason="Withdrawn", code="withdrawn"
    )

    response = officer_client.get(reverse(CHANGELIST))

    html = response.content.decode()
    assert response.status_code == 200
    assert '<span class="pd-days pd-band-overdue">overdue by 5 days</span>' in html
    assert '<span class="pd-days pd-band-due_soon">3 days left</span>' in html
    assert '<span class="pd-days pd-band-due_ten">8 days left</span>' in html
    assert '<span class="pd-days pd-band-later">44 days left</span>' in html
    assert "pd-band-paused" in html and ">paused<" in html
    assert '<span class="pd-pill pd-status-new">New</span>' in html
    assert '<span class="pd-pill pd-status-on_hold">On hold</span>' in html
    assert "cases/admin.css" in html
    # Ordered by due date: the most urgent first.
    assert listed(response)[:3] == [late.reference, soon.reference, ten.reference]
    assert {later.reference, held.reference, rejected.reference} <= set(listed(response))


def test_case_list_is_titled_cases_and_shows_received_date_and_regulation_name(
    officer_client, make_case
):
    case = ccpa_case(make_case, 10)

    response = officer_client.get(reverse(CHANGELIST))

    html = response.content.decode()
    received = timezone.localdate(case.received_at).isoformat()
    assert "<h1>Cases</h1>" in html and "Select case to change" not in html
    assert "<title>Cases | Privacy Desk</title>" in html
    assert f'<td class="field-received"><span class="pd-due">{received}</span></td>' in html
    assert '<td class="field-regulation_code">California CCPA</td>' in html


def test_deadline_filters_overdue_and_due_this_week(officer_client, make_case):
    late = ccpa_case(make_case, 50)
    soon = ccpa_case(make_case, 42)
    ccpa_case(make_case, 1)
    held_late = ccpa_case(make_case, 50)
    services.put_on_hold(held_late, actor=Actor.system(), reason="Waiting for ID")

    overdue = officer_client.get(reverse(CHANGELIST), {"deadline": "overdue"})
    week = officer_client.get(reverse(CHANGELIST), {"deadline": "week"})

    assert listed(overdue) == [late.reference]
    assert listed(week) == [soon.reference]


def test_status_and_regulation_filters(officer_client, make_case):
    gdpr = make_case(regulation="gdpr")
    ccpa = make_case(regulation="ccpa")
    services.verify_identity(ccpa, actor=Actor.system(), method="account_login")

    by_status = officer_client.get(reverse(CHANGELIST), {"status__exact": "verified"})
    by_regulation = officer_client.get(reverse(CHANGELIST), {"regulation__exact": "gdpr"})

    assert listed(by_status) == [ccpa.reference]
    assert listed(by_regulation) == [gdpr.reference]


def test_job_status_filter_lists_each_case_once(officer_client, make_case):
    failing = make_case()
    add_job(failing, "adobe_privacy", "access", status=JobStatus.ERROR)
    add_job(failing, "adobe_privacy", "delete", status=JobStatus.ERROR)
    healthy = make_case()
    add_job(healthy, "id5", "delete", status=JobStatus.COMPLETE)

    response = officer_client.get(reverse(CHANGELIST), {"job_status": "error"})

    assert listed(response) == [failing.reference]
    assert response.context["cl"].result_count == 1


def search_url(client, term: str, **filters: str) -> str:
    """The case list URL the search box leads to (it POSTs: see cases/admin_search.py)."""
    return client.post(reverse("admin:cases_case_search"), {"q": term, **filters})["Location"]


def search(client, term: str, **filters: str):
    return client.get(search_url(client, term, **filters))


def test_search_by_exact_subject_email_uses_the_blind_index(officer_client, make_case):
    ada = make_case(subject_email="ada.lovelace@example.org")
    make_case(subject_email="grace.hopper@example.org")

    exact = search(officer_client, "  Ada.Lovelace@EXAMPLE.org ")
    partial = search(officer_client, "ada.lovelace@example")
    other = search(officer_client, "nobody@example.org")

    assert listed(exact) == [ada.reference]
    assert listed(partial) == []
    assert listed(other) == []


def test_search_by_reference_and_external_ref(officer_client, make_case):
    first = make_case(external_ref="HELP-4711")
    second = make_case()

    by_reference = officer_client.get(reverse(CHANGELIST), {"q": second.reference})
    by_ticket = officer_client.get(reverse(CHANGELIST), {"q": "help-4711"})

    assert listed(by_reference) == [second.reference]
    assert listed(by_ticket) == [first.reference]


def test_search_within_a_filter_keeps_the_filter(officer_client, make_case):
    ada = make_case(subject_email="ada@example.org")
    services.verify_identity(ada, actor=Actor.system(), method="account_login")

    response = search(officer_client, "ada@example.org", status__exact="new")

    assert listed(response) == []


# --- Case page --------------------------------------------------------------------------------


def test_case_page_shows_subject_identities_jobs_results_and_timeline(officer_client, make_case):
    case = make_case(subject_name="Ada Lovelace", external_ref="HELP-1")
    job = add_job(case, status=JobStatus.ERROR, last_error="HTTP 503", vendor_job_id="JOB-77")
    ResultFile.objects.create(
        case=case,
        job=job,
        file="results/x.zip",
        name="adobe-access.zip",
        size=2048,
        sha256="ab" * 32,
        purge_after=timezone.now() + dt.timedelta(days=90),
    )
    services.put_on_hold(case, actor=Actor.for_user(User.objects.get()), reason="Need ID proof")

    response = officer_client.get(case_url(case))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Ada Lovelace" in html and "ada.lovelace@example.org" in html
    assert "44363657679975868102109072127" in html  # the ECID identity, decrypted for display
    assert reverse("admin:cases_datasubject_change", args=[case.subject.pk]) in html
    assert "Adobe Privacy Service" in html and "JOB-77" in html and "HTTP 503" in html
    assert '<span class="pd-pill pd-job-error">Error</span>' in html
    assert "adobe-access.zip" in html and "ab" * 32 in html
    assert "GDPR Art. 12(3)" in html  # the deadline rule and its legal source
    assert "Need ID proof" in html and "On hold since" in html
    timeline = html[html.index("pd-timeline-heading") :]
    assert timeline.index("case.put_on_hold") < timeline.index("case.created")  # newest first
    assert "New → On hold" in timeline
    assert "olivia" in timeline


def test_case_page_speaks_the_products_words_not_djangos(officer_client, make_case):
    case = make_case()

    html = officer_client.get(case_url(case)).content.decode()

    assert f"<h1>Case {case.reference}</h1>" in html
    assert f"<title>Case {case.reference} | Privacy Desk</title>" in html
    assert "Change case" not in html
    assert "Save and add another" not in html and "_addanother" not in html
    assert "<label>API client:</label>" in html and "Api client" not in html
    assert "Data subject:" not in html  # the subject's heading, not "Data subject: Subject of..."
    assert "ada.lovelace@example.org" in html  # the subject itself is still shown


def test_subject_page_is_titled_by_its_case(officer_client, make_case):
    case = make_case()

    response = officer_client.get(reverse("admin:cases_datasubject_change", args=[case.subject.pk]))

    html = response.content.decode()
    assert f"<h1>Subject of {case.reference}</h1>" in html
    assert "Change data subject" not in html and "Data subject:" not in html


def routing_fields(response) -> dict[str, str]:
    """The Routing section's settings as shown (the "Why each job" table is tested apart)."""
    fieldset = next(f for f in response.context["adminform"] if f.name == "Routing")
    return {
        field.field["label"]: str(field.contents())
        for line in fieldset
        for field in line
        if field.field["label"] != "Why each job"
    }


def test_routing_fields_read_as_words(officer_client, make_case, settings):
    settings.ADOBE_DEFAULT_PRODUCTS = ["analytics", "profileService"]
    chosen = make_case(vendors=["adobe_privacy", "id5"], adobe_products=["CJM", "target"])
    defaults = make_case()
    picked = services.update_routing(
        make_case(regulation="lgpd_bra"),
        actor=Actor.system(), vendors=[], adobe_products=[], id5_jurisdiction="GDPR",
    )
    unrouted = make_case(regulation="lgpd_bra")
    adobe_only = make_case(vendors=["adobe_privacy"])

    assert routing_fields(officer_client.get(case_url(chosen))) == {
        "Vendors": "Adobe Privacy Service, ID5",
        "Adobe products": "CJM, target",
        "ID5 jurisdiction": "From the regulation (GDPR)",
    }
    assert routing_fields(officer_client.get(case_url(defaults))) == {
        "Vendors": "Every vendor that applies",
        "Adobe products": "The default (analytics, profileService)",
        "ID5 jurisdiction": "From the regulation (GDPR)",
    }
    assert routing_fields(officer_client.get(case_url(picked)))["ID5 jurisdiction"] == (
        "GDPR (chosen for this case)"
    )
    assert routing_fields(officer_client.get(case_url(unrouted)))["ID5 jurisdiction"] == (
        "None: ID5 deletes under GDPR or CCPA only, not Brazil LGPD"
    )
    assert routing_fields(officer_client.get(case_url(adobe_only)))["ID5 jurisdiction"] == (
        "Not used: the case is not routed to ID5"
    )
    assert "[&quot;" not in officer_client.get(case_url(chosen)).content.decode()


def test_case_page_buttons_follow_the_status(officer_client, make_case):
    case = make_case()

    html = officer_client.get(case_url(case)).content.decode()

    assert f'href="{step_url("verify", case)}"' in html
    assert f'href="{step_url("hold", case)}"' in html
    assert step_url("resume", case) not in html
    assert step_url("close", case) not in html


def test_status_fields_are_read_only_on_the_case_page(officer_client, make_case):
    case = make_case()

    form = officer_client.get(case_url(case)).context["adminform"].form

    assert list(form.fields) == ["assignee"]


def test_changing_the_assignee_goes_through_the_service(officer_client, make_case, other_officer):
    case = make_case()
    data = {
        "assignee": other_officer.pk,
        "subject-TOTAL_FORMS": 1,
        "subject-INITIAL_FORMS": 1,
        "subject-0-id": case.subject.pk,
        "subject-0-case": case.pk,
        "subject-0-name": "Ada Lovelace",
        "subject-0-email": "ada.lovelace@example.org",
        "status": CaseStatus.CLOSED,  # not a form field: must be ignored
    }
    for prefix in ("jobs", "results", "messages", "notes", "attachments"):
        data |= {f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0}

    response = officer_client.post(case_url(case), data)

    assert response.status_code == 302
    case = refreshed(case)
    assert case.assignee == other_officer
    assert case.status == CaseStatus.NEW
    event = AuditEvent.objects.filter(case=case).order_by("-seq").first()
    assert event.action == "case.assigned"
    assert event.details == {"assignee_id": other_officer.pk}


def identity_rows(subject, *added: dict[str, str]) -> dict[str, object]:
    """The identities inline as the subject page posts it: the existing rows, then `added`."""
    existing = list(subject.identities.all())
    data: dict[str, object] = {
        "identities-TOTAL_FORMS": len(existing) + len(added),
        "identities-INITIAL_FORMS": len(existing),
        "identities-MIN_NUM_FORMS": 0,
        "identities-MAX_NUM_FORMS": 1000,
    }
    rows = [
        {"id": i.pk, "subject": subject.pk, "namespace": i.namespace, "type": i.type,
         "value": i.value}
        for i in existing
    ]
    for n, row in enumerate([*rows, *added]):
        data |= {f"identities-{n}-{name}": value for name, value in row.items()}
    return data


def test_subject_is_editable_only_before_vendors_are_involved(officer_client, make_case):
    case = make_case()
    new_page = officer_client.get(case_url(case)).content.decode()
    set_status(case, CaseStatus.IN_PROGRESS)
    running_page = officer_client.get(case_url(case)).content.decode()

    assert 'name="subject-0-email"' in new_page
    assert 'name="subject-0-email"' not in running_page
    assert "ada.lovelace@example.org" in running_page


def test_identities_are_edited_on_the_subject_page_and_audited(officer_client, make_case):
    case = make_case()
    subject = case.subject
    data = {"name": "Ada King", "email": "ada.lovelace@example.org"} | identity_rows(
        subject, {"namespace": "loyaltyId", "type": "custom", "value": "LOY-42"}
    )
    url = reverse("admin:cases_datasubject_change", args=[subject.pk])

    response = officer_client.post(url, data)

    assert response.status_code == 302 and response.url == case_url(case)
    subject.refresh_from_db()
    assert subject.name == "Ada King"
    assert subject.identities.count() == 3
    # The subject and its identities are one locked edit, audited once.
    events = AuditEvent.objects.filter(case=case, action="subject.updated").order_by("seq")
    assert [e.details for e in events] == [
        {
            "fields": ["name"],
            "identities_added": 1,
            "identities_changed": 0,
            "identities_removed": 0,
            "namespaces": ["loyaltyId"],
        },
    ]


def test_subject_name_alone_is_edited_with_identities_untouched(officer_client, make_case):
    case = make_case()
    url = reverse("admin:cases_datasubject_change", args=[case.subject.pk])
    data = {"name": "Ada King", "email": "ada.lovelace@example.org"} | identity_rows(case.subject)

    response = officer_client.post(url, data)

    assert response.status_code == 302 and response.url == case_url(case)
    case.subject.refresh_from_db()
    assert case.subject.name == "Ada King" and case.subject.identities.count() == 2
    events = AuditEvent.objects.filter(case=case, action="subject.updated")
    assert [e.details for e in events] == [{"fields": ["name"]}]


def subject_url(case: Case) -> str:
    return reverse("admin:cases_datasubject_change", args=[case.subject.pk])


def identities_of(case: Case) -> list[tuple[str, str]]:
    return [(i.namespace, i.value) for i in Identity.objects.filter(subject__case=case)]


def last_subject_edit(case: Case) -> dict:
    event = AuditEvent.objects.filter(case=case, action="subject.updated").order_by("-seq")[0]
    assert "@" not in json.dumps(event.details)  # counts and names, never an address
    return event.details


def test_changing_the_contact_email_moves_the_email_identity_with_it(officer_client, make_case):
    case = make_case()
    data = {"name": "Ada Lovelace", "email": "ada.king@example.org",
            "email_identity_follows": "on"} | identity_rows(case.subject)

    response = officer_client.post(subject_url(case), data)

    assert response.status_code == 302
    assert identities_of(case) == [
        ("email", "ada.king@example.org"),
        ("ecid", "44363657679975868102109072127"),
    ]
    assert Case.objects.with_subject_email("ada.king@example.org").get() == case
    assert last_subject_edit(case) == {
        "fields": ["email"],
        "email_identity_followed": True,
        "identities_changed": 1,
        "identities_removed": 0,
        "namespaces": ["email"],
    }


def test_the_email_identity_follows_from_the_case_page_too(officer_client, make_case):
    case = make_case()
    data = {
        "subject-TOTAL_FORMS": 1,
        "subject-INITIAL_FORMS": 1,
        "subject-0-id": case.subject.pk,
        "subject-0-case": case.pk,
        "subject-0-name": "Ada Lovelace",
        "subject-0-email": "ada.king@example.org",
        "subject-0-email_identity_follows": "on",
    }
    for prefix in ("jobs", "results", "messages", "notes", "attachments"):
        data |= {f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0}

    response = officer_client.post(case_url(case), data)

    assert response.status_code == 302
    assert identities_of(case)[0] == ("email", "ada.king@example.org")
    assert last_subject_edit(case) == {
        "fields": ["email"],
        "email_identity_followed": True,
        "identities_changed": 1,
        "identities_removed": 0,
    }


def test_an_officer_can_keep_the_email_identity_by_unticking_the_box(officer_client, make_case):
    case = make_case()
    data = {"name": "Ada Lovelace", "email": "ada.king@example.org"} | identity_rows(case.subject)

    officer_client.post(subject_url(case), data)

    case.subject.refresh_from_db()
    assert case.subject.email == "ada.king@example.org"
    assert identities_of(case)[0] == ("email", "ada.lovelace@example.org")
    assert last_subject_edit(case) == {
        "fields": ["email"],
        "email_identity_followed": False,
        "email_identity_kept_by_officer": True,
    }


def test_the_email_identity_is_matched_ignoring_case_and_spaces(officer_client, make_case):
    case = make_case(
        subject_email="Ada.Lovelace@Example.org ",
        identities=[{"namespace": "Email", "value": "ada.lovelace@EXAMPLE.ORG"}],
    )
    data = {"name": "", "email": "ada@example.net",
            "email_identity_follows": "on"} | identity_rows(case.subject)

    officer_client.post(subject_url(case), data)

    assert identities_of(case) == [("Email", "ada@example.net")]


def test_without_a_matching_email_identity_nothing_else_changes(officer_client, make_case):
    case = make_case(identities=[{"namespace": "ecid", "value": "44363657679975868102109072127"},
                                 {"namespace": "email", "value": "work@example.com"}])
    page = officer_client.get(subject_url(case)).content.decode()
    data = {"name": "Ada Lovelace", "email": "ada.king@example.org",
            "email_identity_follows": "on"} | identity_rows(case.subject)

    officer_client.post(subject_url(case), data)

    assert "Also change the email identity sent to vendors" in page
    assert "This case has no email identity with the current contact email." in page
    assert identities_of(case) == [
        ("ecid", "44363657679975868102109072127"),
        ("email", "work@example.com"),
    ]
    assert last_subject_edit(case)["email_identity_followed"] is False


def test_an_email_identity_already_holding_the_new_address_is_not_duplicated(
    officer_client, make_case
):
    case = make_case(identities=[{"namespace": "email", "value": "ada.lovelace@example.org"},
                                 {"namespace": "email", "value": "ada.king@example.org"}])
    data = {"name": "Ada Lovelace", "email": "ada.king@example.org",
            "email_identity_follows": "on"} | identity_rows(case.subject)

    officer_client.post(subject_url(case), data)

    assert identities_of(case) == [("email", "ada.king@example.org")]
    assert last_subject_edit(case)["identities_removed"] == 1


def test_an_identity_row_the_officer_edits_in_the_same_save_is_left_as_typed(
    officer_client, make_case
):
    case = make_case()
    data = {"name": "Ada Lovelace", "email": "ada.king@example.org",
            "email_identity_follows": "on"} | identity_rows(case.subject)
    data["identities-0-value"] = "ada.work@example.com"

    officer_client.post(subject_url(case), data)

    assert identities_of(case)[0] == ("email", "ada.work@example.com")
    details = last_subject_edit(case)
    assert details["identities_changed"] == 1 and details["email_identity_followed"] is False


def test_an_officer_removes_an_identity_while_the_case_is_unsubmitted(officer_client, make_case):
    case = make_case()
    page = officer_client.get(subject_url(case)).content.decode()
    data = {"name": "Ada Lovelace", "email": "ada.lovelace@example.org"} | identity_rows(
        case.subject
    )
    data["identities-1-DELETE"] = "on"

    response = officer_client.post(subject_url(case), data)

    assert 'name="identities-0-DELETE"' in page
    assert response.status_code == 302
    assert identities_of(case) == [("email", "ada.lovelace@example.org")]
    assert last_subject_edit(case) == {
        "identities_added": 0,
        "identities_changed": 0,
        "identities_removed": 1,
        "namespaces": ["ecid"],
    }


def test_removing_the_last_identity_is_refused_with_a_clear_error(officer_client, make_case):
    case = make_case(identities=[{"namespace": "ecid", "value": "44363657679975868102109072127"}])
    data = {"name": "Ada Lovelace", "email": "ada.lovelace@example.org"} | identity_rows(
        case.subject
    )
    data["identities-0-DELETE"] = "on"

    response = officer_client.post(subject_url(case), data)

    assert response.status_code == 200
    assert "A case needs at least one identity: add another before removing the last one." in (
        response.content.decode()
    )
    assert len(identities_of(case)) == 1
    assert not AuditEvent.objects.filter(case=case, action="subject.updated").exists()


def test_officers_may_delete_identities_and_auditors_may_not(officer, auditor):
    assert officer.has_perm("cases.delete_identity")
    assert not auditor.has_perm("cases.delete_identity")
    assert not officer.has_perm("cases.delete_case")


def test_subject_edit_racing_a_submission_is_refused_and_nothing_changes(
    officer_client, make_case, monkeypatch
):
    case = make_case()
    subject = case.subject
    original_clean = DataSubjectForm.clean

    def clean_then_submit_elsewhere(form):
        # Another officer submits the case after this form was checked, before it is saved.
        set_status(case, CaseStatus.IN_PROGRESS)
        return original_clean(form)

    monkeypatch.setattr(DataSubjectForm, "clean", clean_then_submit_elsewhere)
    url = reverse("admin:cases_datasubject_change", args=[subject.pk])
    data = {"name": "Ada King", "email": "ada.lovelace@example.org"} | identity_rows(subject)

    response = officer_client.post(url, data, follow=True)

    subject.refresh_from_db()
    assert subject.name == "Ada Lovelace"
    page = response.content.decode()
    assert "can no longer be edited" in page and "saved" not in page
    assert not AuditEvent.objects.filter(case=case, action="subject.updated").exists()


def test_identity_inline_refuses_what_the_intake_refuses(officer_client, make_case):
    case = make_case()
    subject = case.subject
    data = {
        "name": "Ada Lovelace",
        "email": "ada.lovelace@example.org",
        "identities-TOTAL_FORMS": 1,
        "identities-INITIAL_FORMS": 0,
        "identities-0-namespace": "gaid",
        "identities-0-type": "standard",
        "identities-0-value": "not-a-uuid",
    }
    url = reverse("admin:cases_datasubject_change", args=[subject.pk])

    response = officer_client.post(url, data)

    assert response.status_code == 200
    assert "A GAID must be a UUID" in response.content.decode()
    assert Identity.objects.filter(subject=subject).count() == 2


def test_subject_page_is_read_only_once_vendors_are_involved(officer_client, make_case):
    case = set_status(make_case(), CaseStatus.IN_PROGRESS)
    url = reverse("admin:cases_datasubject_change", args=[case.subject.pk])

    page = officer_client.get(url)
    post = officer_client.post(url, {"name": "Someone else"})

    assert page.status_code == 200 and 'name="email"' not in page.content.decode()
    assert post.status_code == 403


# --- Bulk actions -----------------------------------------------------------------------------


def run_action(client, action: str, cases: list[Case], **form):
    data = {"action": action, "_selected_action": [c.pk for c in cases], **form}
    return client.post(reverse(CHANGELIST), data)


def test_verify_action_verifies_and_reports_refusals_per_case(officer_client, make_case):
    fresh = make_case()
    done = make_case()
    services.verify_identity(done, actor=Actor.system(), method="account_login")

    response = run_action(officer_client, "verify", [fresh, done], apply="1",
                          method="account_login")

    assert response.status_code == 302
    assert refreshed(fresh).status == CaseStatus.VERIFIED
    notes = messages_of(response)
    assert "1 case verified." in notes
    assert any(done.reference in n and "cannot become" in n for n in notes)
    assert "1 case left unchanged." in notes


def test_hold_action_asks_for_a_reason_first(officer_client, make_case):
    first, second = make_case(), make_case()

    page = run_action(officer_client, "hold", [first, second])
    empty = run_action(officer_client, "hold", [first, second], apply="1", reason="   ")
    applied = run_action(officer_client, "hold", [first, second], apply="1", reason="Need ID")

    assert page.status_code == 200 and b'name="reason"' in page.content
    assert first.reference.encode() in page.content and second.reference.encode() in page.content
    assert empty.status_code == 200 and b"This field is required." in empty.content
    assert applied.status_code == 302
    assert {refreshed(c).status for c in (first, second)} == {CaseStatus.ON_HOLD}
    assert refreshed(first).status_reason == "Need ID"
    assert "2 cases put on hold." in messages_of(applied)


def test_resume_action(officer_client, make_case):
    case = make_case()
    services.put_on_hold(case, actor=Actor.system(), reason="Waiting")

    run_action(officer_client, "resume", [case])

    assert refreshed(case).status == CaseStatus.NEW


def test_extend_action_shows_the_rule_limit_and_extends(officer_client, make_case):
    case = ccpa_case(make_case, 10)
    limit = case.due_date + dt.timedelta(days=45)

    page = run_action(officer_client, "extend", [case])
    applied = run_action(officer_client, "extend", [case], apply="1", reason="Complex", until="")

    assert f"at the latest {limit}" in page.content.decode()
    assert applied.status_code == 302
    case = refreshed(case)
    assert case.due_date == limit and case.extension_reason == "Complex"


def test_reject_action_needs_a_code_and_a_reason(officer_client, make_case):
    case = make_case()

    missing = run_action(officer_client, "reject", [case], apply="1", code="duplicate")
    status_after_missing = refreshed(case).status
    applied = run_action(
        officer_client, "reject", [case], apply="1", code="duplicate", reason="Same as 41"
    )

    assert missing.status_code == 200 and status_after_missing == CaseStatus.NEW
    assert applied.status_code == 302
    case = refreshed(case)
    assert (case.status, case.rejection_code) == (CaseStatus.REJECTED, "duplicate")


def test_assign_actions(officer_client, officer, other_officer, make_case):
    mine, theirs = make_case(), make_case()

    run_action(officer_client, "assign_to_me", [mine])
    run_action(officer_client, "assign", [theirs], apply="1", assignee=other_officer.pk)

    assert refreshed(mine).assignee == officer
    assert refreshed(theirs).assignee == other_officer


def test_close_action_closes_completed_cases_only(officer_client, make_case):
    completed = set_status(make_case(), CaseStatus.COMPLETED)
    fresh = make_case()

    response = run_action(officer_client, "close", [completed, fresh], apply="1",
                          delivered_out_of_band="Sent by post on 2 January 2027")

    assert refreshed(completed).status == CaseStatus.CLOSED
    assert refreshed(fresh).status == CaseStatus.NEW
    assert "1 case closed." in messages_of(response)


# --- Case page buttons ------------------------------------------------------------------------


def test_verify_button(officer_client, make_case):
    case = make_case()

    response = officer_client.post(step_url("verify", case), {"method": "account_login"})

    assert response.status_code == 302 and response.url == case_url(case)
    assert refreshed(case).status == CaseStatus.VERIFIED
    assert f"Case {case.reference} verified." in messages_of(response)


def test_refused_button_shows_the_reason_not_an_error_page(officer_client, make_case):
    case = make_case()
    services.verify_identity(case, actor=Actor.system(), method="account_login")

    response = officer_client.post(step_url("verify", case), {"method": "account_login"})

    assert response.status_code == 302
    assert any("Verify identity is not available" in n and "identity verified" in n
               for n in messages_of(response))


def test_hold_and_resume_buttons(officer_client, make_case):
    case = make_case()

    form_page = officer_client.get(step_url("hold", case))
    empty = officer_client.post(step_url("hold", case), {"reason": ""})
    held = officer_client.post(step_url("hold", case), {"reason": "Need ID"})
    held_status = refreshed(case).status
    resumed = officer_client.post(step_url("resume", case))

    assert form_page.status_code == 200 and b'name="reason"' in form_page.content
    assert empty.status_code == 200 and b"This field is required." in empty.content
    assert held.status_code == 302 and held_status == CaseStatus.ON_HOLD
    assert resumed.status_code == 302 and refreshed(case).status == CaseStatus.NEW


def test_extend_button_puts_the_services_objection_on_the_date_field(officer_client, make_case):
    case = ccpa_case(make_case, 10)
    too_late = case.due_date + dt.timedelta(days=60)

    refused = officer_client.post(
        step_url("extend", case), {"reason": "Complex", "until": too_late.isoformat()}
    )
    granted = officer_client.post(step_url("extend", case), {"reason": "Complex"})

    assert refused.status_code == 200
    assert refused.context["form"].errors["until"][0].startswith("Choose a date after")
    assert granted.status_code == 302 and refreshed(case).extended_at is not None


def test_extend_page_is_refused_after_the_one_extension(officer_client, make_case):
    case = ccpa_case(make_case, 10)
    services.extend_deadline(case, actor=Actor.system(), reason="Complex")
    extended_to = refreshed(case).due_date

    page = officer_client.get(step_url("extend", case))
    post = officer_client.post(step_url("extend", case), {"reason": "Again"})
    case_page = officer_client.get(case_url(case)).content.decode()

    expected = (
        f"Extend deadline is not available for {case.reference}: "
        f"the deadline was already extended once, to {extended_to}."
    )
    assert page.status_code == 302 and page.url == case_url(case)
    assert expected in messages_of(page)
    assert post.status_code == 302 and expected in messages_of(post)
    assert refreshed(case).due_date == extended_to
    assert step_url("extend", case) not in case_page


def test_step_pages_not_offered_now_are_refused_with_the_status(officer_client, make_case):
    case = make_case()
    services.verify_identity(case, actor=Actor.system(), method="account_login")
    held = services.put_on_hold(make_case(), actor=Actor.system(), reason="ID proof")

    verify = officer_client.get(step_url("verify", case))
    extend_held = officer_client.get(step_url("extend", held))

    assert verify.status_code == 302 and verify.url == case_url(case)
    assert (
        f"Verify identity is not available for {case.reference}: the case is identity verified."
    ) in messages_of(verify)
    assert extend_held.status_code == 302 and (
        f"Extend deadline is not available for {held.reference}: "
        "the case is on hold; resume it before extending."
    ) in messages_of(extend_held)


def test_reject_assign_and_close_buttons(officer_client, officer, other_officer, make_case):
    rejected, assigned, closed = make_case(), make_case(), make_case()
    set_status(closed, CaseStatus.ACTION_REQUIRED)

    officer_client.post(step_url("reject", rejected), {"code": "excessive", "reason": "Fifth"})
    officer_client.post(step_url("assign_to_me", assigned))
    officer_client.post(step_url("assign", closed), {"assignee": other_officer.pk})
    officer_client.post(step_url("close", closed),
                        {"note": "", "delivered_out_of_band": "Read out on the phone"})

    assert refreshed(rejected).status == CaseStatus.REJECTED
    assert refreshed(assigned).assignee == officer
    closed = refreshed(closed)
    assert closed.status == CaseStatus.CLOSED and closed.assignee == other_officer


def test_buttons_refuse_get_for_steps_without_input(officer_client, make_case):
    case = make_case()

    response = officer_client.get(step_url("verify", case))

    # A GET only shows the confirmation page; nothing changes without a POST.
    assert response.status_code == 200
    assert refreshed(case).status == CaseStatus.NEW


# --- Auditors: read-only ----------------------------------------------------------------------


def test_auditor_sees_cases_but_no_actions_or_buttons(auditor_client, make_case):
    case = make_case()

    changelist = auditor_client.get(reverse(CHANGELIST))
    page = auditor_client.get(case_url(case))

    # Auditors may export the audit trail, and do nothing else.
    actions = {name for name, _ in changelist.context["action_form"].fields["action"].choices}
    assert actions - {""} == {"export_audit_csv", "export_audit_jsonl"}
    assert page.status_code == 200 and page.context["case_buttons"] == []
    assert b"Add case" not in changelist.content


def test_auditor_gets_403_on_a_transition(auditor_client, make_case):
    case = make_case()

    button = auditor_client.post(step_url("verify", case))
    bulk = run_action(auditor_client, "verify", [case])
    add = auditor_client.get(reverse("admin:cases_case_add"))

    assert button.status_code == 403
    assert add.status_code == 403
    assert bulk.status_code in (200, 302)  # Django answers "no action selected"
    assert refreshed(case).status == CaseStatus.NEW


# --- Intake -----------------------------------------------------------------------------------


def intake(**overrides) -> dict:
    data = {
        "regulation": "gdpr",
        "actions": ["access", "delete"],
        "received_at": "",
        "subject_name": "Grace Hopper",
        "subject_email": "grace@example.org",
        "include_email_identity": "on",
        "identities": "ecid:11112222333344445555\nloyaltyId:LOY:42:custom",
        "external_ref": "MAIL-7",
    }
    return data | overrides


def test_add_form_creates_the_case_through_the_service(officer_client, officer):
    response = officer_client.post(reverse("admin:cases_case_add"), intake())

    case = Case.objects.get(external_ref="MAIL-7")
    assert response.status_code == 302 and response.url == case_url(case)
    assert case.subject.email == "grace@example.org"
    identities = [(i.namespace, i.value, i.type) for i in case.subject.identities.all()]
    assert identities == [
        ("email", "grace@example.org", "standard"),
        ("ecid", "11112222333344445555", "standard"),
        ("loyaltyId", "LOY:42", "custom"),
    ]
    created = AuditEvent.objects.get(case=case, action="case.created")
    assert created.actor_id == str(officer.pk)


def test_add_form_names_the_replacement_of_a_retired_regulation(officer_client):
    response = officer_client.post(reverse("admin:cases_case_add"), intake(regulation="cpra_usa"))

    assert response.status_code == 200
    assert "cpra_ca_usa" in response.context["form"].errors["regulation"][0]
    assert not Case.objects.exists()


def test_add_form_reports_every_bad_identity_line_at_once(officer_client):
    lines = [
        "gaid:not-a-uuid",
        "just-a-value",
        "ecid:11112222333344445555",
        "",
        "ecid:123:weird",
        "loyaltyId:LOY-1",
        "ecid:11112222333344445555",
    ]

    response = officer_client.post(
        reverse("admin:cases_case_add"), intake(identities="\n".join(lines))
    )

    assert response.status_code == 200
    types = "standard, custom, integrationCode, namespaceId, unregistered, analytics, target"
    assert response.context["form"].errors["identities"] == [
        "Line 1: A GAID must be a UUID such as 6D92078A-8246-4BA4-AE5B-76104861E7DC.",
        "Line 2: write namespace:value, optionally :type at the end.",
        f"Line 5: unknown identity type 'weird' after the last ':'; use one of {types}. "
        "A value containing ':' needs its type at the end, e.g. ecid:123:weird:standard.",
        "Line 6: 'loyaltyId' is not a standard namespace: send it with type 'custom'.",
        "Line 7: The ecid identity is listed twice.",
    ]
    assert not Case.objects.exists()


def test_add_form_keeps_colons_in_values_written_with_their_type(officer_client):
    identities = "ecid:123:weird:standard\nloyaltyId:a:b:c:Custom\nphone:+44 20:7946:standard"

    officer_client.post(reverse("admin:cases_case_add"), intake(identities=identities))

    case = Case.objects.get(external_ref="MAIL-7")
    assert [(i.namespace, i.value, i.type) for i in case.subject.identities.all()] == [
        ("email", "grace@example.org", "standard"),
        ("ecid", "123:weird", "standard"),
        ("loyaltyId", "a:b:c", "custom"),
        ("phone", "+44 20:7946", "standard"),
    ]


def test_add_form_help_text_states_the_identity_line_format(officer_client):
    page = officer_client.get(reverse("admin:cases_case_add")).content.decode()

    assert "the part after the last one is always the type" in page


def test_add_form_shows_service_errors_on_their_field(officer_client):
    tomorrow = (timezone.localtime() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    response = officer_client.post(reverse("admin:cases_case_add"), intake(received_at=tomorrow))

    assert response.context["form"].errors["received_at"] == [
        "The receipt date cannot be in the future."
    ]


def test_add_form_refuses_a_receipt_date_older_than_the_limit_on_the_field(officer_client):
    response = officer_client.post(
        reverse("admin:cases_case_add"), intake(received_at="2020-06-01T10:00")
    )

    assert response.status_code == 200
    [message] = response.context["form"].errors["received_at"]
    assert message.startswith("The receipt date 2020-06-01 is more than 365 days ago")
    assert not Case.objects.exists()


def test_add_form_accepts_an_officers_backdated_receipt(officer_client):
    backdated = timezone.localtime() - dt.timedelta(days=200)

    officer_client.post(
        reverse("admin:cases_case_add"),
        intake(received_at=backdated.strftime("%Y-%m-%dT%H:%M")),
    )

    case = Case.objects.get(external_ref="MAIL-7")
    assert timezone.localdate(case.received_at) == backdated.date()


def test_add_form_warns_of_possible_duplicates(officer_client, make_case):
    existing = make_case(subject_email="grace@example.org")

    response = officer_client.post(reverse("admin:cases_case_add"), intake())

    assert any(existing.reference in n for n in messages_of(response))


# --- Dashboard and deadline rules -------------------------------------------------------------


def test_dashboard_counts_and_links_match_the_filtered_lists(officer_client, officer, make_case):
    system = Actor.system()
    overdue_new = ccpa_case(make_case, 50)
    services.verify_identity(ccpa_case(make_case, 50), actor=system, method="account_login")
    services.verify_identity(ccpa_case(make_case, 42), actor=system, method="account_login")
    stuck = set_status(make_case(), CaseStatus.ACTION_REQUIRED)
    services.assign(stuck, actor=system, assignee=officer)
    services.put_on_hold(make_case(), actor=system, reason="ID")
    mine_new = make_case()
    services.assign(mine_new, actor=system, assignee=officer)

    response = officer_client.get(reverse("admin:index"))
    boxes = {box.key: box for box in officer_queue_boxes(officer)}

    counts = {key: box.count for key, box in boxes.items()}
    assert counts == {
        "overdue": 2,
        "week": 1,
        "action_required": 1,
        "on_hold": 1,
        "new": 2,
        "unacknowledged": 3,  # the three CCPA cases: none was acknowledged
        "messages_failed": 0,
        "mine": 2,
    }
    assert [c.reference for c in boxes["new"].cases] == [overdue_new.reference, mine_new.reference]
    html = response.content.decode()
    for box in boxes.values():
        assert box.url.replace("&", "&amp;") in html
        assert officer_client.get(box.url).context["cl"].result_count == box.count
    assert reverse("admin:cases_case_deadline_rules") in html


def test_dashboard_rows_show_request_regulation_received_due_and_assignee(
    officer_client, officer, make_case
):
    case = make_case(regulation="ccpa", actions=["delete"], received_at=days_ago(50))
    services.assign(case, actor=Actor.system(), assignee=officer)
    officer.first_name, officer.last_name = "Olivia", "Okafor"
    officer.save()

    html = officer_client.get(reverse("admin:index")).content.decode()

    overdue = html[html.index('id="pd-box-overdue"') : html.index('id="pd-box-week"')]
    for heading in ("Case", "Request", "Regulation", "Received", "Due", "Assignee"):
        assert f'<th scope="col">{heading}</th>' in overdue
    row = overdue[overdue.index(case.reference) :]
    row = row[: row.index("</tr>")]
    received = timezone.localdate(case.received_at).isoformat()
    assert "<td>Delete</td>" in row
    assert "<td>California CCPA</td>" in row and "(ccpa)" not in row
    assert f'<td class="pd-nowrap">{received}</td>' in row
    assert case.due_date.isoformat() in row and "overdue by 5 days" in row
    assert "<td>Olivia Okafor</td>" in row


def test_home_title_follows_the_role(officer_client, auditor, client, make_case):
    make_case()

    officer_home = officer_client.get(reverse("admin:index")).content.decode()
    client.force_login(auditor)
    auditor_home = client.get(reverse("admin:index")).content.decode()

    assert "<h1>Officer&#x27;s queue</h1>" in officer_home
    assert "<title>Officer&#x27;s queue | Privacy Desk</title>" in officer_home
    assert "<h1>Cases and audit trail</h1>" in auditor_home
    assert "Officer" not in auditor_home
    # Auditors are never assigned a case; their home has no "Assigned to me".
    assert 'id="pd-box-overdue"' in auditor_home and "pd-box-mine" not in auditor_home


def test_dashboard_hides_the_queue_from_users_without_case_access(client, db):
    clerk = User.objects.create_user("clerk", is_staff=True)
    client.force_login(clerk)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200 and b"pd-queue" not in response.content


def test_deadline_rules_page_lists_every_rule_with_its_source(auditor_client):
    response = auditor_client.get(reverse("admin:cases_case_deadline_rules"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "GDPR Art. 12(3)" in html and "ccpa, cpra_ca_usa" in html
    assert "1 calendar month" in html and "20 working days (NZ)" in html


# --- Read-only records ------------------------------------------------------------------------


def test_audit_events_are_read_only_for_everyone(officer_client, make_case):
    case = make_case()
    event = AuditEvent.objects.get(case=case, action="case.created")
    url = reverse("admin:cases_auditevent_change", args=[event.pk])

    listing = officer_client.get(
        reverse("admin:cases_auditevent_changelist"), {"q": case.reference}
    )

    assert listing.status_code == 200
    assert [e.pk for e in listing.context["cl"].result_list] == [event.pk]
    assert officer_client.get(url).status_code == 200
    assert officer_client.post(url, {"action": "tampered"}).status_code == 403
    assert officer_client.get(reverse("admin:cases_auditevent_add")).status_code == 403
    delete_url = reverse("admin:cases_auditevent_delete", args=[event.pk])
    assert officer_client.post(delete_url).status_code == 403


# Not the subjects' admin: contact data, withheld from auditors (tests/security/test_roles.py).
@pytest.mark.parametrize("name", ["vendorjob", "resultfile", "apiclient", "auditevent"])
def test_other_admins_render_for_auditors(auditor_client, make_case, name):
    case = make_case()
    add_job(case)

    response = auditor_client.get(reverse(f"admin:cases_{name}_changelist"))

    assert response.status_code == 200


# --- Query counts -----------------------------------------------------------------------------


def count_queries(client, url: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(queries)


def test_case_list_queries_do_not_grow_with_rows(officer_client, officer, make_case):
    def populate(n: int) -> None:
        for _ in range(n):
            case = make_case()
            services.assign(case, actor=Actor.system(), assignee=officer)
            add_job(case)

    populate(3)
    small = count_queries(officer_client, reverse(CHANGELIST))
    searched_small = count_queries(officer_client, search_url(officer_client, "x@example.org"))
    populate(27)
    large = count_queries(officer_client, reverse(CHANGELIST))
    searched_large = count_queries(officer_client, search_url(officer_client, "x@example.org"))

    assert small == large
    assert searched_small == searched_large


def test_case_page_queries_do_not_grow_with_jobs_identities_results_or_events(
    officer_client, officer, make_case
):
    def populate(identities: int, jobs: int, results: int, events: int) -> Case:
        case = make_case(
            identities=[
                {"namespace": "ecid", "value": f"4436365767997586810210912{n:04d}"}
                for n in range(identities)
            ]
        )
        vendors = ("adobe_privacy", "adobe_hygiene", "id5")
        pairs = [(vendor, action) for vendor in vendors for action in ("access", "delete")]
        made = [add_job(case, vendor, action) for vendor, action in pairs[:jobs]]
        for n in range(results):
            ResultFile.objects.create(
                case=case,
                job=made[0],
                file=f"results/{n}.zip",
                name=f"{n}.zip",
                size=n,
                sha256=f"{n:064d}",
                purge_after=timezone.now() + dt.timedelta(days=90),
            )
        for n in range(events):
            services.assign(case, actor=Actor.system(), assignee=officer if n % 2 else None)
        return case

    small = populate(identities=1, jobs=1, results=1, events=1)
    large = populate(identities=8, jobs=6, results=12, events=20)

    assert count_queries(officer_client, case_url(small)) == count_queries(
        officer_client, case_url(large)
    )


def test_dashboard_queries_do_not_grow_with_cases(officer_client, officer, make_case):
    def populate(n: int) -> None:
        for _ in range(n):
            case = ccpa_case(make_case, 50)
            services.assign(case, actor=Actor.system(), assignee=officer)

    populate(2)
    small = count_queries(officer_client, reverse("admin:index"))
    populate(12)

    assert count_queries(officer_client, reverse("admin:index")) == small


# --- Vendor job pages -----------------------------------------------------------------------------


def job_url(job: VendorJob) -> str:
    return reverse("admin:cases_vendorjob_change", args=[job.pk])


def test_job_list_rows_link_to_the_job_page_named_by_case_reference(officer_client, make_case):
    case = make_case()
    job = add_job(case, "id5", "access", status=JobStatus.MANUAL)

    html = officer_client.get(reverse("admin:cases_vendorjob_changelist")).content.decode()

    assert f'<a href="{job_url(job)}">ID5 access for {case.reference}</a>' in html
    assert f'<a href="{case_url(case)}">{case.reference}</a>' in html
    rows = html[html.index("<tbody>"):html.index("</tbody>")]
    assert not re.search(r"<a [^>]*>\s*(</a>|<a )", rows)  # no empty or nested anchors
    assert f"for {case.pk}<" not in html


def test_job_list_queries_do_not_grow_with_rows(officer_client, make_case):
    url = reverse("admin:cases_vendorjob_changelist")
    add_job(make_case(), "id5", "delete")
    small = count_queries(officer_client, url)
    for _ in range(4):
        add_job(make_case(), "adobe_privacy", "access")
    assert count_queries(officer_client, url) == small


def test_case_page_links_each_job_and_explains_its_routing(officer_client, make_case):
    case = set_status(make_case(regulation="ccpa"), CaseStatus.IN_PROGRESS)
    adobe = add_job(case, "adobe_privacy", "access", status=JobStatus.SUBMITTED)
    id5 = add_job(case, "id5", "delete", status=JobStatus.PROCESSING)

    html = officer_client.get(case_url(case)).content.decode()

    assert f'<a href="{job_url(adobe)}">Adobe Privacy Service access</a>' in html
    assert f'<a href="{job_url(id5)}">ID5 delete</a>' in html
    routing = html[html.index('id="pd-routing"'):]
    assert f'<a href="{job_url(id5)}">Job: processing</a>' in routing
    assert "jurisdiction CCPA (from regulation ccpa)" in routing
    assert "ID5_ACCESS_REQUESTS=manual" in routing  # why the ID5 access task will exist
    assert "Created as manual task on submit" not in routing  # the case is past submission
    assert "No job yet: created as manual task when the case is next submitted" in routing
    assert "Expected when the job completes" in html  # Adobe access, not finished yet
    assert "No result file (delete)" in html
    assert "No result expected" not in html


def test_unsubmitted_case_page_says_which_jobs_submitting_will_create(officer_client, make_case):
    case = make_case(actions=["access"], identities=[{"namespace": "id5id", "value": "ID5-ab12"}])
    routing = officer_client.get(case_url(case)).content.decode()
    routing = routing[routing.index('id="pd-routing"'):]
    assert "Created as not applicable on submit" in routing  # Adobe: no Adobe identity
    assert "The case has no identity Adobe can look up." in routing
    assert "Created as manual task on submit" in routing


def test_job_page_gives_the_reason_result_and_note(officer_client, make_case):
    case = make_case()
    failed = add_job(case, "id5", "delete", status=JobStatus.ERROR, vendor_status="FAILED",
                     vendor_job_id="ab" * 16)
    done = add_job(case, "id5", "access", status=JobStatus.COMPLETE,
                   note="ID5 replied: no data held.")

    html = officer_client.get(job_url(failed)).content.decode()
    assert f"ID5 delete for {case.reference}" in html
    assert f"contact ID5 support with request id {'ab' * 16}" in html
    assert f'<a href="{case_url(case)}">{case.reference}</a>' in html
    assert "see the job" not in html

    html = officer_client.get(job_url(done)).content.decode()
    assert "ID5 replied: no data held." in html
    case_page = officer_client.get(case_url(case)).content.decode()
    assert "ID5 replied: no data held." in case_page  # the note, on the case page too
