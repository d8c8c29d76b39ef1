"""/metrics: Prometheus text for the whole installation, only with the bearer token."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cases import services, tasks
from cases.models import VendorCallStat
from cases.monitoring import count_vendor_call
from connectors.base import Attempt

pytestmark = pytest.mark.django_db
TOKEN = "scrape-me-7f3a"
ADA = [
    {"namespace": "email", "value": "ada.lovelace@example.org"},
    {"namespace": "id5id", "value": "ID5-7d1f3c2a9b8e4f60"},
]


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} from an authorised scrape."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def with_le(labels: tuple, le: str) -> tuple:
    return tuple(sorted((*labels, ("le", le))))


def test_metrics_are_off_without_a_token_setting(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"]
)
def test_metrics_refuse_a_missing_or_wrong_token(client, token, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"privacydesk_" not in response.content


def test_metrics_count_cases_jobs_and_messages(client, token, make_case, system_actor):
    make_case()
    services.submit_case(
        services.verify_identity(make_case(vendors=["id5"], identities=ADA), actor=system_actor,
                                 method="ticketing_system"),
        actor=system_actor,
    )
    samples = scrape(client)
    assert samples["privacydesk_cases"][(("status", "new"),)] == 1
    assert samples["privacydesk_cases"][(("status", "closed"),)] == 0
    jobs = samples["privacydesk_vendor_jobs"]
    assert jobs[(("status", "pending"), ("vendor", "id5"))] >= 1
    assert samples["privacydesk_oldest_pending_job_age_seconds"][(("vendor", "id5"),)] >= 0
    assert (("status", "queued"),) in samples["privacydesk_messages"]
    assert "privacydesk_task_queue_backlog" in samples


def test_vendor_calls_made_by_the_worker_are_counted(
    client, token, make_case, system_actor, vendor_sandbox, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    case = services.verify_identity(
        make_case(vendors=["id5"], actions=["delete"], identities=ADA), actor=system_actor,
        method="ticketing_system",
    )
    services.submit_case(case, actor=system_actor)
    tasks.send_pending_jobs()  # the worker's task: it calls ID5 through the connector

    labels = (("operation", "request_deletion"), ("outcome", "ok"), ("vendor", "id5"))
    samples = scrape(client)
    assert samples["privacydesk_vendor_calls_total"][labels] == 1
    assert samples["privacydesk_vendor_call_duration_seconds_count"][labels] == 1
    assert samples["privacydesk_vendor_call_duration_seconds_bucket"][with_le(labels, "+Inf")] == 1


def test_vendor_call_histogram_buckets_are_cumulative(client, token):
    for ms, error in [(40, None), (400, None), (3000, None), (90_000, None), (30, "RateLimited")]:
        count_vendor_call(Attempt("adobe_privacy", "create_jobs", 200, ms, error))

    samples = scrape(client)
    ok = (("operation", "create_jobs"), ("outcome", "ok"), ("vendor", "adobe_privacy"))
    buckets = samples["privacydesk_vendor_call_duration_seconds_bucket"]

    def bucket(le: str) -> float:
        return buckets[with_le(ok, le)]

    assert [bucket("0.05"), bucket("0.5"), bucket("5.0"), bucket("60.0"), bucket("+Inf")] == [
        1, 2, 3, 3, 4
    ]
    assert samples["privacydesk_vendor_call_duration_seconds_sum"][ok] == pytest.approx(93.44)
    limited = (("operation", "create_jobs"), ("outcome", "rate_limited"),
               ("vendor", "adobe_privacy"))
    assert samples["privacydesk_vendor_calls_total"][limited] == 1


def test_repeated_calls_increment_one_row(client):
    for _ in range(3):
        count_vendor_call(Attempt("id5", "get_status", 200, 20, None))
    row = VendorCallStat.objects.get()
    assert (row.calls, row.total_ms, row.le_ms) == (3, 60, 50)


def test_a_sync_passs_status_reads_are_counted_together_at_its_end(db):
    from cases.vendors import audit_attempt, summarised_polls

    with summarised_polls():
        for ms in (10, 12, 14):
            audit_attempt(Attempt("adobe_privacy", "get_job", 200, ms, None))
        assert not VendorCallStat.objects.exists()  # nothing written per call inside a pass

    row = VendorCallStat.objects.get(vendor="adobe_privacy", operation="get_job")
    assert (row.calls, row.total_ms) == (3, 36)
