import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases import services
from cases.choices import CaseStatus, JobStatus, RejectionReason
from cases.crypto import blind_index
from cases.models import AuditEvent, Case, TransitionError
from tests.conftest import DEFAULT_IDENTITIES, submitted_with_jobs


def test_create_case_sets_reference_deadline_and_audits(make_case, settings):
    settings.MAX_RECEIPT_AGE_DAYS = 100 * 365  # a fixed date must not age out of the limit
    received = timezone.make_aware(dt.datetime(2026, 1, 31, 10, 0))
    case = make_case(received_at=received)

    assert case.reference.startswith(f"DSAR-{timezone.localdate().year}-")
    assert case.due_date == dt.date(2026, 2, 28)
    assert case.status == CaseStatus.NEW
    assert case.subject.identities.count() == 2
    event = AuditEvent.objects.get(action="case.created")
    assert event.case_reference == case.reference
    assert event.details["identity_count"] == 2


def test_references_are_sequential_per_year(make_case):
    first, second = make_case(), make_case()
    number = int(first.reference.rsplit("-", 1)[1])
    assert second.reference.endswith(f"{number + 1:06d}")


def test_retired_regulation_code_names_its_replacement(make_case):
    with pytest.raises(ValidationError) as error:
        make_case(regulation="cpra_usa")
    assert "cpra_ca_usa" in str(error.value.message_dict["regulation"])
    assert Case.objects.count() == 0


@pytest.mark.parametrize(
    ("identities", "fragment"),
    [
        ([], "At least one identity"),
        ([{"namespace": "email", "value": "not-an-email"}], "not a valid email"),
        ([{"namespace": "loyaltyId", "value": "L1", "type": "standard"}], "type 'custom'"),
        ([{"namespace": "gaid", "value": "1234"}], "must be a UUID"),
        ([{"namespace": "id5id", "value": "XYZ-1"}], "ID5 id starts"),
        ([{"namespace": "email", "value": " "}], "empty value"),
        ([{"namespace": "bad namespace!", "value": "x"}], "not a valid namespace"),
        ([{"namespace": "email", "value": "a@example.org", "type": "weird"}], "Unknown identity"),
        (
            [{"namespace": "email", "value": "a@example.org"}] * 2,
            "listed twice",
        ),
    ],
)
def test_bad_identities_are_refused_with_a_message(make_case, identities, fragment):
    with pytest.raises(ValidationError) as error:
        make_case(identities=identities)
    assert fragment in " ".join(error.value.message_dict["identities"])


def test_more_than_nine_adobe_identities_are_refused(make_case):
    identities = [{"namespace": "ecid", "value": f"{i:029d}"} for i in range(10)]
    with pytest.raises(ValidationError, match="at most 9"):
        make_case(identities=identities)


def test_id5_identities_do_not_count_against_adobes_nine(make_case):
    identities = [{"namespace": "ecid", "value": f"{i:029d}"} for i in range(9)]
    identities.append({"namespace": "partnerUid", "value": "crm-1"})
    assert make_case(identities=identities).subject.identities.count() == 10


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actions", []),
        ("actions", ["access", "export"]),
        ("subject_email", "nobody"),
        ("subject_email", ""),
        ("vendors", ["adobe_hygiene"]),
        ("adobe_products", ["photoshop"]),
        ("received_at", timezone.now() + dt.timedelta(days=2)),
    ],
)
def test_bad_case_fields_are_refused(make_case, field, value):
    with pytest.raises(ValidationError):
        make_case(**{field: value})
    assert Case.objects.count() == 0


def test_a_receipt_date_years_ago_is_refused_by_default(make_case):
    with pytest.raises(ValidationError) as error:
        make_case(received_at=timezone.make_aware(dt.datetime(2019, 3, 1, 10, 0)))

    [message] = error.value.message_dict["received_at"]
    assert message.startswith("The receipt date 2019-03-01 is more than 365 days ago")
    earliest = timezone.localdate() - dt.timedelta(days=365)
    assert f"Receipt dates from {earliest} on are accepted" in message
    assert Case.objects.count() == 0


def test_backdating_within_the_limit_is_accepted_and_one_day_more_is_not(make_case, settings):
    settings.MAX_RECEIPT_AGE_DAYS = 30
    today = timezone.localdate()

    def noon(days_ago: int) -> dt.datetime:
        day = today - dt.timedelta(days=days_ago)
        return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))

    case = make_case(received_at=noon(30))
    with pytest.raises(ValidationError, match="more than 30 days ago"):
        make_case(received_at=noon(31))
    assert timezone.localdate(case.received_at) == today - dt.timedelta(days=30)
    assert Case.objects.count() == 1


def test_reference_year_is_the_year_the_case_is_opened_not_the_receipt_year(make_case, settings):
    settings.MAX_RECEIPT_AGE_DAYS = 400  # last year's 31 December is up to 366 days ago
    this_year = timezone.localdate().year
    new_years_eve = timezone.make_aware(dt.datetime(this_year - 1, 12, 31, 12, 0))

    case = make_case(received_at=new_years_eve)

    assert case.reference.startswith(f"DSAR-{this_year}-")
    assert case.due_date == dt.date(this_year, 1, 31)  # the clock still runs from the receipt


def test_adobe_products_are_canonically_spelt(make_case):
    case = make_case(adobe_products=["cjm", "PROFILESERVICE", "cjm"])
    assert case.adobe_products == ["CJM", "profileService"]


def test_duplicate_subject_is_flagged_in_the_audit_trail(make_case):
    first = make_case()
    second = make_case(subject_email="ADA.LOVELACE@example.org ")
    event = AuditEvent.objects.filter(action="case.created", case=second).get()
    assert event.details["possible_duplicates"] == [first.reference]
    assert list(services.possible_duplicates(second)) == [first]


def test_verify_then_illegal_move_is_refused(make_case, system_actor):
    case = services.verify_identity(make_case(), actor=system_actor, method="account_login")
    assert case.status == CaseStatus.VERIFIED and case.verified_at
    with pytest.raises(TransitionError, match="cannot become closed"):
        services.close(case, actor=system_actor)


def test_hold_stops_the_clock_and_resume_gives_back_the_days(make_case, system_actor, monkeypatch):
    case = make_case(received_at=timezone.now())
    days_left = case.days_left()
    case = services.put_on_hold(case, actor=system_actor, reason="Awaiting ID")
    assert case.status == CaseStatus.ON_HOLD and case.days_left() is None

    later = timezone.localdate() + dt.timedelta(days=10)
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: later)
    case = services.resume(case, actor=system_actor)
    assert case.status == CaseStatus.NEW
    assert case.due_date == later + dt.timedelta(days=days_left)


def test_hold_requires_a_reason(make_case, system_actor):
    with pytest.raises(ValidationError):
        services.put_on_hold(make_case(), actor=system_actor, reason="  ")


def test_extension_once_within_the_law(make_case, system_actor):
    received = timezone.now() - dt.timedelta(days=3)
    case = make_case(received_at=received)
    original = case.due_date
    case = services.extend_deadline(case, actor=system_actor, reason="Complex request")
    assert case.due_date > original and case.extended_at
    with pytest.raises(TransitionError, match="already been extended"):
        services.extend_deadline(case, actor=system_actor, reason="Again")


def test_extension_beyond_the_law_is_refused(make_case, system_actor):
    case = make_case()
    with pytest.raises(ValidationError):
        services.extend_deadline(
            case, actor=system_actor, reason="Long", until=case.due_date + dt.timedelta(days=400)
        )


def test_lgpd_has_no_extension(make_case, system_actor):
    case = make_case(regulation="lgpd_bra")
    with pytest.raises(TransitionError):
        services.extend_deadline(case, actor=system_actor, reason="Complex")


def test_reject_requires_reason_and_records_code(make_case, system_actor):
    case = make_case()
    with pytest.raises(ValidationError):
        services.reject(case, actor=system_actor, reason="")
    case = services.reject(
        case, actor=system_actor, reason="No proof", code=RejectionReason.IDENTITY_NOT_VERIFIED
    )
    assert case.status == CaseStatus.REJECTED
    event = AuditEvent.objects.get(action="case.rejected")
    assert event.details == {"reason_code": "identity_not_verified"}


def test_assign_only_to_staff(make_case, system_actor, officer, django_user_model):
    case = services.assign(make_case(), actor=system_actor, assignee=officer)
    assert case.assignee == officer
    outsider = django_user_model.objects.create_user("eve")
    with pytest.raises(ValidationError):
        services.assign(case, actor=system_actor, assignee=outsider)


def test_overdue_and_due_soon_querysets(make_case):
    old = make_case(received_at=timezone.now() - dt.timedelta(days=40))
    soon = make_case(received_at=timezone.now() - dt.timedelta(days=27))
    make_case(received_at=timezone.now())
    assert list(Case.objects.overdue()) == [old]
    assert list(Case.objects.due_within(7)) == [soon]


def test_no_audit_event_holds_personal_data(make_case, system_actor):
    """Scan every event written by every service for the subject's data."""
    case = make_case(subject_name="Grace Hopper", subject_email="grace@example.net",
                     identities=[*DEFAULT_IDENTITIES, {"namespace": "phone", "value": "+4420799"}])
    case = services.verify_identity(case, actor=system_actor, method="account_login")
    case = services.put_on_hold(case, actor=system_actor, reason="Waiting on Grace Hopper")
    case = services.resume(case, actor=system_actor)
    case = services.extend_deadline(case, actor=system_actor, reason="grace@example.net asked")
    services.reject(case, actor=system_actor, reason="Grace Hopper withdrew")
    secrets = ["Grace", "Hopper", "grace@example.net", "ada.lovelace", "+4420799",
               "44363657679975868102109072127"]
    for event in AuditEvent.objects.all():
        text = repr(event.__dict__)
        for secret in secrets:
            assert secret.lower() not in text.lower(), (event.action, secret)


def test_edit_subject_saves_and_audits_names_and_counts_only(make_case, system_actor):
    case = make_case()

    def save():
        case.subject.name = "Ada King"
        case.subject.save()
        return {"fields": ["name"]}

    services.edit_subject(case, save, actor=system_actor)

    case.subject.refresh_from_db()
    assert case.subject.name == "Ada King"
    event = AuditEvent.objects.get(case=case, action="subject.updated")
    assert event.details == {"fields": ["name"]}


def test_edit_subject_is_refused_once_the_case_went_to_the_vendors(make_case, system_actor):
    case = make_case()
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.IN_PROGRESS)  # submitted meanwhile
    saved = []

    with pytest.raises(TransitionError, match="can no longer be edited"):
        services.edit_subject(case, lambda: saved.append(1) or {}, actor=system_actor)

    assert saved == []
    assert not AuditEvent.objects.filter(case=case, action="subject.updated").exists()


# --- Submitting: nothing left to send is refused, nothing written --------------------------------


def _snapshot(case) -> tuple:
    case.refresh_from_db()
    return (case.status, case.status_changed_at, case.jobs.count(),
            AuditEvent.objects.filter(case=case).count())


def test_submitting_a_completed_case_is_refused_and_changes_nothing(make_case, system_actor):
    case = submitted_with_jobs(make_case(), system_actor, default=JobStatus.COMPLETE)
    assert case.status == CaseStatus.COMPLETED
    before = _snapshot(case)

    with pytest.raises(TransitionError, match="completed: nothing is left to send"):
        services.submit_case(case, actor=system_actor)

    assert _snapshot(case) == before


@pytest.mark.parametrize("status", [CaseStatus.CLOSED, CaseStatus.REJECTED])
def test_submitting_an_ended_case_is_refused(make_case, system_actor, status):
    case = make_case()
    Case.objects.filter(pk=case.pk).update(status=status)
    before = _snapshot(case)

    with pytest.raises(TransitionError, match="nothing is left to send"):
        services.submit_case(case, actor=system_actor)

    assert _snapshot(case) == before


def test_submitting_when_every_job_was_sent_is_refused_and_points_to_retry(
    make_case, system_actor
):
    case = submitted_with_jobs(make_case(), system_actor, adobe_privacy_access=JobStatus.ERROR)
    assert case.status == CaseStatus.ACTION_REQUIRED
    before = _snapshot(case)

    with pytest.raises(TransitionError, match="nothing left to send.*Retry failed jobs"):
        services.submit_case(case, actor=system_actor)

    assert _snapshot(case) == before
    assert not services.has_something_to_send(case)


def test_a_job_still_waiting_to_be_sent_can_be_submitted_again(make_case, system_actor):
    case = submitted_with_jobs(make_case(), system_actor, id5_delete=JobStatus.PENDING)
    assert services.has_something_to_send(case)

    services.submit_case(case, actor=system_actor)

    assert AuditEvent.objects.filter(case=case, action="case.submitted").count() == 2


def test_vendors_asked_to_delete_are_those_the_submission_sends_a_delete(make_case, system_actor):
    case = services.verify_identity(make_case(), actor=system_actor, method="account_login")
    access_only = services.verify_identity(make_case(actions=["access"]), actor=system_actor,
                                           method="account_login")

    assert services.vendors_asked_to_delete(case) == ["Adobe Privacy Service", "ID5"]
    assert services.vendors_asked_to_delete(access_only) == []


# --- Closing a case whose delete failed ----------------------------------------------------------

POST = "Sent by post on 2 January 2027"


@pytest.mark.parametrize("failed", [JobStatus.ERROR, JobStatus.PARTIAL, JobStatus.CANCELLED])
def test_a_failed_delete_closes_only_with_confirmation_and_reason(make_case, system_actor, failed):
    case = submitted_with_jobs(make_case(subject_name="Grace Hopper"), system_actor,
                               default=JobStatus.COMPLETE, id5_delete=failed)
    job = case.jobs.get(vendor="id5", action="delete")
    assert case.status == CaseStatus.ACTION_REQUIRED

    with pytest.raises(ValidationError) as unconfirmed:
        services.close(case, actor=system_actor, note="Sent by post", delivered_out_of_band=POST)
    with pytest.raises(ValidationError) as no_reason:
        services.close(case, actor=system_actor, confirm_failed_deletes=True,
                       failed_delete_reason="  ", delivered_out_of_band=POST)
    case.refresh_from_db()
    assert case.status == CaseStatus.ACTION_REQUIRED
    assert "ID5 delete" in unconfirmed.value.message_dict["confirm_failed_deletes"][0]
    assert "failed_delete_reason" in no_reason.value.message_dict

    case = services.close(case, actor=system_actor, note="Sent by post",
                          delivered_out_of_band=POST, confirm_failed_deletes=True,
                          failed_delete_reason="Grace Hopper has no ID5 profile")

    assert case.status == CaseStatus.CLOSED
    assert case.status_reason.startswith("Sent by post\nClosed although the ID5 delete")
    assert case.status_reason.endswith("Grace Hopper has no ID5 profile")
    event = AuditEvent.objects.get(case=case, action="case.closed")
    assert event.details == {"failed_delete_jobs": [job.pk], "confirmed": True,
                             "response": "out_of_band"}
    assert "Grace" not in repr(list(AuditEvent.objects.values()))


def test_closing_without_a_failed_delete_needs_no_confirmation(make_case, system_actor):
    case = submitted_with_jobs(make_case(), system_actor, default=JobStatus.COMPLETE,
                               adobe_privacy_access=JobStatus.ERROR)

    case = services.close(case, actor=system_actor, delivered_out_of_band=POST)

    assert case.status == CaseStatus.CLOSED
    assert AuditEvent.objects.get(case=case, action="case.closed").details == {
        "response": "out_of_band"}


# --- Who may be assigned ---------------------------------------------------------------------


def test_officers_are_active_staff_who_may_change_cases(officer, auditor, django_user_model):
    boss = django_user_model.objects.create_superuser("root", password="x")
    django_user_model.objects.create_user("gone", is_staff=True, is_active=False).groups.set(
        officer.groups.all()
    )
    direct = django_user_model.objects.create_user("dora", is_staff=True)
    direct.user_permissions.add(Permission.objects.get(codename="change_case"))

    assert list(services.officers()) == [direct, officer, boss]


def test_assign_refuses_the_read_only_auditor(make_case, system_actor, auditor):
    case = make_case()

    with pytest.raises(ValidationError) as refused:
        services.assign(case, actor=system_actor, assignee=auditor)

    assert "arthur may not work cases" in refused.value.message_dict["assignee"][0]
    case.refresh_from_db()
    assert case.assignee is None
    assert not AuditEvent.objects.filter(case=case, action="case.assigned").exists()


def test_following_the_contact_email_re_indexes_the_email_identity(make_case, system_actor):
    case = make_case()

    def save():
        return services.follow_contact_email(
            case.subject, old_email="ADA.LOVELACE@example.org", new_email="ada.king@example.org"
        )

    services.edit_subject(case, save, actor=system_actor)

    email = case.subject.identities.get(namespace="email")
    assert email.value == "ada.king@example.org"
    assert email.value_index == blind_index("email:ada.king@example.org")
    event = AuditEvent.objects.get(action="subject.updated")
    assert event.details == {"identities_changed": 1, "identities_removed": 0}
