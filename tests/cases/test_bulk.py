"""cases.bulk.update_rows: many rows' fields in one statement, on SQLite and PostgreSQL."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import bulk, services
from cases.choices import JobStatus, ResultStatus
from cases.models import VendorJob


@pytest.fixture
def jobs(make_case, system_actor) -> list[VendorJob]:
    """Three jobs (access cases for Adobe), as a pass would hold them."""
    for i in range(3):
        case = make_case(identities=[{"namespace": "email", "value": f"p{i}@example.org"}],
                         vendors=["adobe_privacy"], actions=["access"])
        services.submit_case(
            services.verify_identity(case, actor=system_actor, method="account_login"),
            actor=system_actor)
    found = list(VendorJob.objects.order_by("pk"))
    assert len(found) == 3
    return found


def test_each_row_gets_its_own_values_in_one_statement(jobs) -> None:
    when = timezone.now().replace(microsecond=0)
    for n, job in enumerate(jobs):
        job.vendor_status = f"status {n}"
        job.product_statuses = {"analytics": {"status": f"s{n}"}, "n": [n, None]}
        job.completed_at = when + dt.timedelta(minutes=n) if n % 2 else None  # NULLs between
        job.attempts = n
    with CaptureQueriesContext(connection) as queries:
        assert bulk.update_rows(jobs, ["vendor_status", "product_statuses", "completed_at",
                                       "attempts"]) == len(jobs)
    assert len(queries.captured_queries) == 1
    for n, job in enumerate(VendorJob.objects.order_by("pk")):
        assert job.vendor_status == f"status {n}"
        assert job.product_statuses == {"analytics": {"status": f"s{n}"}, "n": [n, None]}
        assert job.completed_at == (when + dt.timedelta(minutes=n) if n % 2 else None)
        assert job.attempts == n


def test_fields_not_named_are_left_alone(jobs) -> None:
    VendorJob.objects.update(status=JobStatus.SUBMITTED, result_status=ResultStatus.PENDING)
    for job in jobs:  # stale in memory: status pending, result none
        job.vendor_status = "processing"
    bulk.update_rows(jobs, ["vendor_status"])
    assert set(VendorJob.objects.values_list("status", "result_status", "vendor_status")) == {
        (JobStatus.SUBMITTED, ResultStatus.PENDING, "processing")}


def test_a_column_that_is_null_in_every_row_keeps_its_type(jobs) -> None:
    VendorJob.objects.update(completed_at=timezone.now())
    for job in jobs:
        job.completed_at = None
    bulk.update_rows(jobs, ["completed_at"])
    assert not VendorJob.objects.filter(completed_at__isnull=False).exists()


def test_long_lists_are_split_into_statements(jobs, monkeypatch) -> None:
    monkeypatch.setattr(bulk, "ROWS_PER_STATEMENT", 2)
    for job in jobs:
        job.request_id = f"req-{job.pk}"
    with CaptureQueriesContext(connection) as queries:
        assert bulk.update_rows(jobs, ["request_id"]) == 3
    assert len(queries.captured_queries) == 2
    assert all(job.request_id == f"req-{job.pk}" for job in VendorJob.objects.all())


def test_nothing_to_write_sends_nothing(db) -> None:
    with CaptureQueriesContext(connection) as queries:
        assert bulk.update_rows([], ["status"]) == 0
    assert not queries.captured_queries
