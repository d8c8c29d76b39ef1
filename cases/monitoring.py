"""Figures for /metrics, read from the database at scrape time so they cover the whole
installation: every web and worker process, on every machine.

Vendor calls are counted as they happen (`count_vendor_calls`, the connectors' attempt hook) into
`VendorCallStat` rows with in-place increments; everything else is counted from the live tables.
"""

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Min, Sum
from django.utils import timezone
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from cases.choices import CaseStatus, JobStatus, MessageStatus, Vendor
from cases.models import Case, Message, VendorCallStat, VendorJob
from connectors.base import Attempt

# Latency buckets in milliseconds. Stored rows name their bound, so changing this list only
# affects calls counted afterwards.
BUCKETS_MS = (50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
PREFIX = "privacydesk"


def outcome(attempt: Attempt) -> str:
    """`ok`, or the error's kind in snake case (`transient_error`, `rate_limited`, ...)."""
    if attempt.error_class is None:
        return "ok"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", attempt.error_class).lower()


def _bucket(duration_ms: int) -> int:
    return next((bound for bound in BUCKETS_MS if duration_ms <= bound), VendorCallStat.INF_MS)


def count_vendor_call(attempt: Attempt) -> None:
    """Add one call to its row (see `count_vendor_calls`)."""
    count_vendor_calls([attempt])


def count_vendor_calls(attempts: Iterable[Attempt]) -> None:
    """Add calls to their rows, one statement per distinct (vendor, operation, outcome, bucket):
    a sync pass's hundreds of status reads cost a handful of updates. Concurrent processes
    increment the same row safely."""
    grouped: dict[tuple[str, str, str, int], list[int]] = defaultdict(list)
    for attempt in attempts:
        key = (attempt.vendor, attempt.operation, outcome(attempt), _bucket(attempt.duration_ms))
        grouped[key].append(max(attempt.duration_ms, 0))
    for (vendor, operation, result, le_ms), durations in grouped.items():
        _add_calls(
            {"vendor": vendor, "operation": operation, "outcome": result, "le_ms": le_ms},
            len(durations), sum(durations),
        )


def _add_calls(key: dict[str, object], calls: int, total_ms: int) -> None:
    add = {"calls": F("calls") + calls, "total_ms": F("total_ms") + total_ms}
    with transaction.atomic():
        if VendorCallStat.objects.filter(**key).update(**add):
            return
        try:
            with transaction.atomic():  # a savepoint: losing the race must not spoil the rest
                VendorCallStat.objects.create(**key, calls=calls, total_ms=total_ms)
            return
        except IntegrityError:  # another process created the row first
            pass
        VendorCallStat.objects.filter(**key).update(**add)


def _counts(queryset, *fields: str) -> dict[tuple[str, ...], int]:
    rows = queryset.values_list(*fields).annotate(n=Count("pk")).order_by()
    return {tuple(row[:-1]): row[-1] for row in rows}


def _vendor_call_metrics() -> Iterator[Metric]:
    labels = ["vendor", "operation", "outcome"]
    calls = CounterMetricFamily(
        f"{PREFIX}_vendor_calls", "Vendor API calls by vendor, operation and outcome.",
        labels=labels,
    )
    latency = HistogramMetricFamily(
        f"{PREFIX}_vendor_call_duration_seconds",
        "Vendor API call latency by vendor, operation and outcome.",
        labels=labels,
    )
    series: dict[tuple[str, str, str], dict[int, tuple[int, int]]] = defaultdict(dict)
    rows = VendorCallStat.objects.values_list("vendor", "operation", "outcome", "le_ms")
    for vendor, operation, result, le_ms, n, total in rows.annotate(
        n=Sum("calls"), total=Sum("total_ms")
    ).order_by():
        series[(vendor, operation, result)][le_ms] = (n, total)
    for key, by_bucket in sorted(series.items()):
        count = sum(n for n, _ in by_bucket.values())
        seconds = sum(total for _, total in by_bucket.values()) / 1000
        cumulative, buckets = 0, []
        for bound in BUCKETS_MS:
            cumulative += by_bucket.get(bound, (0, 0))[0]
            buckets.append((str(bound / 1000), cumulative))
        buckets.append(("+Inf", count))
        calls.add_metric(list(key), count)
        latency.add_metric(list(key), buckets, seconds)
    yield calls
    yield latency


def _job_metrics() -> Iterator[Metric]:
    jobs = GaugeMetricFamily(
        f"{PREFIX}_vendor_jobs", "Vendor jobs by vendor and status.", labels=["vendor", "status"]
    )
    by_key = _counts(VendorJob.objects, "vendor", "status")
    for vendor in Vendor.values:
        for status in JobStatus.values:
            jobs.add_metric([vendor, status], by_key.get((vendor, status), 0))
    yield jobs
    oldest = GaugeMetricFamily(
        f"{PREFIX}_oldest_pending_job_age_seconds",
        "Age of the oldest vendor job still waiting to be sent (0 when none waits).",
        labels=["vendor"],
    )
    firsts = dict(
        VendorJob.objects.filter(status=JobStatus.PENDING)
        .values_list("vendor").annotate(first=Min("created_at")).order_by()
    )
    now = timezone.now()
    for vendor in Vendor.values:
        first = firsts.get(vendor)
        oldest.add_metric([vendor], (now - first).total_seconds() if first else 0.0)
    yield oldest


def _status_gauge(name: str, help_text: str, queryset, statuses: list[str]) -> Metric:
    gauge = GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=["status"])
    by_status = _counts(queryset, "status")
    for status in statuses:
        gauge.add_metric([status], by_status.get((status,), 0))
    return gauge


def _queue_metrics() -> Iterator[Metric]:
    from django_q.brokers import get_broker
    from django_q.models import Task

    backlog = GaugeMetricFamily(f"{PREFIX}_task_queue_backlog", "Tasks waiting for a worker.")
    backlog.add_metric([], get_broker().queue_size() or 0)
    yield backlog
    last = Task.objects.aggregate(last=Max("stopped"))["last"]
    if last is not None:
        age = GaugeMetricFamily(
            f"{PREFIX}_worker_heartbeat_age_seconds",
            "Seconds since a worker last finished a task (a sync task runs every minute).",
        )
        age.add_metric([], (timezone.now() - last).total_seconds())
        yield age


class InstallationCollector(Collector):
    """Computes every figure from the database when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        yield _status_gauge(
            "cases", "Cases by status.", Case.objects, CaseStatus.values
        )
        yield from _job_metrics()
        yield from _vendor_call_metrics()
        yield _status_gauge(
            "messages", "Messages to data subjects by status.", Message.objects,
            MessageStatus.values,
        )
        yield from _queue_metrics()


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(InstallationCollector())
