"""Case lists at 2 000 and 20 000 cases (200 000 with --huge): the admin's case list and the API's
list, a page of 50 each: milliseconds (median of several requests, in-process, no network) and
queries. The baseline is the same page at the smallest size: a flat list reads 1.0×.

Cases are bulk-inserted (each with an access and a delete job, a realistic mix of statuses and
regulations); no subject rows, since neither list reads them. Both lists count exactly up to
ADMIN_COUNT_ESTIMATE_ABOVE cases and take the planner's estimate beyond it (PostgreSQL; the
API's list is the client's own cases, a filtered list: counted up to the threshold, then
EXPLAIN).
"""

import datetime as dt
import statistics
import time
from collections.abc import Callable
from itertools import cycle, islice

from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bench.table import Row
from cases.api import clients
from cases.audit import Actor
from cases.choices import ApiScope, CaseStatus, JobStatus, Regulation
from cases.models import ApiClient, Case, VendorJob

PAGE = 50
REPEATS = 15
# Most cases of a desk that has run for a while are answered; a few are in flight.
_STATUSES = [CaseStatus.COMPLETED] * 5 + [CaseStatus.CLOSED] * 3 + [
    CaseStatus.NEW, CaseStatus.IN_PROGRESS, CaseStatus.ON_HOLD, CaseStatus.ACTION_REQUIRED]
_REGULATIONS = ["gdpr", "gdpr", "ccpa", "lgpd", "pdpa_tha"]


def add_cases(n: int, *, client: ApiClient, batch_size: int = 5000) -> None:
    """`n` more cases with two jobs each, numbered after the ones already there."""
    first = Case.objects.count()
    today = timezone.localdate()
    statuses = islice(cycle(_STATUSES), first, None)
    regulations = islice(cycle([r for r in _REGULATIONS if r in Regulation.values]), first, None)
    for start in range(first, first + n, batch_size):
        with transaction.atomic():
            cases = []
            for i in range(start, min(start + batch_size, first + n)):
                received = timezone.now() - dt.timedelta(days=i % 400)
                due = today + dt.timedelta(days=30 - i % 400)
                cases.append(Case(
                    reference=f"DSAR-1999-{i:07d}", external_ref=f"BENCH-{i}", api_client=client,
                    regulation=next(regulations), actions="access,delete", received_at=received,
                    due_date=due, original_due_date=due, status=next(statuses),
                ))
            Case.objects.bulk_create(cases)
            VendorJob.objects.bulk_create(
                VendorJob(case=case, vendor="adobe_privacy", action=action,
                          status=JobStatus.COMPLETE, vendor_job_id=f"{case.reference}-{action}")
                for case in cases for action in ("access", "delete")
            )
    # Planner statistics and (PostgreSQL) the visibility map, as autovacuum keeps them for a table
    # that has been in use: an index-only count depends on it.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def _officer_client() -> Client:
    officer, _ = User.objects.get_or_create(username="bench-officer", defaults={"is_staff": True})
    officer.groups.add(Group.objects.get(name="Compliance officer"))
    browser = Client(HTTP_HOST="127.0.0.1")
    browser.force_login(officer)
    return browser


def _api_client() -> tuple[ApiClient, Client]:
    client = ApiClient(name="bench lists", scopes=[ApiScope.CASES_READ])
    key = clients.create_client(client, actor=Actor.system("bench")).key
    return client, Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Api-Key {key}")


def measure(get: Callable[[], object]) -> tuple[float, int]:
    """(median ms, queries) of a request, after two warm-up requests."""
    get(), get()
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        get()
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        get()
    return statistics.median(times), len(queries)


def _page(browser: Client, url: str) -> Callable[[], object]:
    def get() -> object:
        response = browser.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        return response

    return get


def run(sizes: tuple[int, ...] = (2_000, 20_000)) -> list[Row]:
    client, api = _api_client()
    officer = _officer_client()
    admin_url, api_url = reverse("admin:cases_case_changelist"), f"/api/v1/cases/?page_size={PAGE}"
    figures: dict[str, list[tuple[int, float, int]]] = {"admin": [], "api": []}
    for size in sizes:
        started = time.perf_counter()
        add_cases(size - Case.objects.count(), client=client)
        print(f"\n{size:,} cases in the database ({time.perf_counter() - started:.1f} s to add)")
        for name, url, browser in (("admin", admin_url, officer), ("api", api_url, api)):
            ms, queries = measure(_page(browser, url))
            figures[name].append((size, ms, queries))
            print(f"  {name:<5} list, page of {PAGE}: {ms:7.1f} ms {queries:3d} queries")
    return [
        Row(f"{label}, {PAGE} of {size:,}", f"{base_size:,} cases", base_ms, ms, "ms",
            f"{queries} queries ({base_queries} at {base_size:,})")
        for name, label in (("admin", "admin case list"), ("api", "API list"))
        for (base_size, base_ms, base_queries) in [figures[name][0]]
        for (size, ms, queries) in figures[name][1:]
    ]


def main(args) -> list[Row]:
    sizes = tuple(int(size) for size in args.list_sizes.split(","))
    return run((*sizes, 200_000) if args.huge else sizes)
