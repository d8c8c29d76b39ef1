"""Request metrics per regulation and request type, as figures, CSV and an admin page."""

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from cases import metrics, services
from cases.choices import CaseStatus
from cases.models import AuditEvent, Case

TODAY = timezone.localdate()
SINCE, UNTIL = TODAY - dt.timedelta(days=60), TODAY - dt.timedelta(days=1)


def noon(days_ago: int) -> dt.datetime:
    day = TODAY - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def answer(case: Case, status: str, after_days: int, **fields) -> None:
    """Set how a case ended, as if an officer had acted `after_days` after receipt."""
    at = case.received_at + dt.timedelta(days=after_days)
    closed = {"closed_at": at} if status != CaseStatus.COMPLETED else {}
    Case.objects.filter(pk=case.pk).update(status=status, status_changed_at=at, **closed, **fields)


@pytest.fixture
def period_cases(make_case, system_actor):
    new = lambda days_ago, **kw: make_case(received_at=noon(days_ago), **kw)  # noqa: E731
    on_time = new(50, actions=["access"])
    answer(on_time, CaseStatus.CLOSED, 10)
    late = new(40, actions=["access"])
    answer(late, CaseStatus.CLOSED, 35)
    rejected = new(30, actions=["access"])
    answer(rejected, CaseStatus.REJECTED, 2, rejection_code="identity_not_verified")
    held = new(55, actions=["access"])
    services.put_on_hold(held, actor=system_actor, reason="Waiting for a signed form.")
    new(45, actions=["delete"])  # open and past its one-month deadline
    extended = new(20, regulation="ccpa", actions=["delete"])
    services.extend_deadline(extended, actor=system_actor, reason="Many systems to search.")
    completed = new(10, regulation="ccpa", actions=["delete"])
    answer(completed, CaseStatus.COMPLETED, 4)
    new(70, actions=["access"])  # received before the period


def test_metrics_per_regulation_and_request_type(period_cases):
    report = metrics.compute(SINCE, UNTIL)
    rows = {(row.regulation, row.request_type): row for row in report.rows}
    assert list(rows) == [("ccpa", "delete"), ("gdpr", "access"), ("gdpr", "delete")]

    access = rows["gdpr", "access"]
    assert (access.received, access.completed, access.rejected_total) == (4, 2, 1)
    assert access.rejected == {"identity_not_verified": 1}
    assert (access.extended, access.overdue, access.open) == (0, 1, 1)  # a hold is not overdue
    assert (access.median_days, access.mean_days) == (10.0, 15.7)  # 2, 10 and 35 days

    delete = rows["gdpr", "delete"]
    assert (delete.received, delete.overdue, delete.open) == (1, 1, 1)
    assert delete.median_days is None and delete.mean_days is None

    ccpa = rows["ccpa", "delete"]
    assert (ccpa.received, ccpa.completed, ccpa.extended, ccpa.overdue) == (2, 1, 1, 0)
    assert (ccpa.median_days, ccpa.mean_days) == (4.0, 4.0)

    total = report.total
    assert (total.received, total.completed, total.rejected_total, total.extended) == (7, 3, 1, 1)
    assert (total.overdue, total.open) == (2, 3)
    assert (total.median_days, total.mean_days) == (7.0, 12.8)  # 2, 4, 10 and 35 days


def test_period_bounds_are_inclusive(make_case):
    make_case(received_at=noon(30))
    day = TODAY - dt.timedelta(days=30)
    assert metrics.compute(day, day).total.received == 1
    assert metrics.compute(day + dt.timedelta(days=1), TODAY).total.received == 0


def test_period_must_not_run_backwards(db):
    with pytest.raises(ValueError, match="start on or before"):
        metrics.compute(TODAY, TODAY - dt.timedelta(days=1))


def test_csv_has_one_row_per_group_then_the_total(period_cases):
    rows = list(csv.reader(io.StringIO("".join(metrics.csv_lines(metrics.compute(SINCE, UNTIL))))))
    header, *groups, total = rows
    assert header == list(metrics.CSV_COLUMNS)
    assert [row[2:4] for row in groups] == [["ccpa", "delete"], ["gdpr", "access"],
                                            ["gdpr", "delete"]]
    record = dict(zip(header, total, strict=True))
    assert record["regulation"] == record["request_type"] == "all"
    assert record["period_start"] == SINCE.isoformat()
    assert (record["received"], record["rejected_identity_not_verified"]) == ("7", "1")
    assert (record["median_days_to_respond"], record["mean_days_to_respond"]) == ("7.0", "12.8")


# --------------------------------------------------------------------------- the page


METRICS = "admin:cases_case_metrics"


def test_metrics_page_shows_table_and_charts(client, officer, period_cases):
    client.force_login(officer)
    response = client.get(reverse(METRICS), {"since": SINCE, "until": UNTIL})
    assert response.status_code == 200
    page = response.content.decode()
    assert "EU/EEA GDPR (gdpr)" in page and "California CCPA (ccpa)" in page
    assert "Identity could not be verified" in page
    # SVG bars sized by attribute: the CSP allows no inline style.
    assert '<rect class="pd-bar-received" width="100.0"' in page and 'style=' not in page
    assert f"since={SINCE}&amp;until={UNTIL}&amp;format=csv" in page
    assert "cdn" not in page.lower() and "<script src=\"http" not in page


def test_metrics_page_defaults_to_this_year(client, auditor, make_case):
    make_case()
    client.force_login(auditor)
    response = client.get(reverse(METRICS))
    assert response.status_code == 200
    assert response.context["report"].since == TODAY.replace(month=1, day=1)


def test_metrics_page_explains_a_bad_period(client, officer):
    client.force_login(officer)
    response = client.get(reverse(METRICS), {"since": TODAY, "until": TODAY - dt.timedelta(1)})
    assert response.status_code == 400
    assert "The period must start on or before its end." in response.content.decode()
    response = client.get(reverse(METRICS), {"since": "soon", "until": TODAY})
    assert response.status_code == 400
    assert "Enter a valid date." in response.content.decode()


def test_metrics_csv_download_is_audited(client, officer, period_cases):
    client.force_login(officer)
    response = client.get(reverse(METRICS), {"since": SINCE, "until": UNTIL, "format": "csv"})
    assert response.status_code == 200
    assert f"request-metrics-{SINCE}-to-{UNTIL}.csv" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("period_start,period_end,regulation")
    event = AuditEvent.objects.get(action="metrics.exported")
    assert event.details == {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    assert event.actor_label == "olivia"


def test_metrics_need_staff_with_case_view(client, django_user_model):
    outsider = django_user_model.objects.create_user("outsider", password="x" * 12, is_staff=True)
    client.force_login(outsider)
    assert client.get(reverse(METRICS)).status_code == 403
