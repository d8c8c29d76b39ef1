"""The case lists at scale (issue 15): one COUNT a page, the same queries for 10 rows as for 60,
and sort orders read off an index. Benchmarks (bench/lists.py) show the timings; tests count."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.api import clients
from cases.audit import Actor
from cases.choices import ApiScope
from cases.models import ApiClient, Case, VendorJob
from tests.api.conftest import ALL_SCOPES, http_for

CHANGELIST = "admin:cases_case_changelist"
ADMIN_FILTERS = [{}, {"status__exact": "new"}, {"regulation__exact": "gdpr"},
                 {"deadline": "overdue"}, {"deadline": "week"}]
API_FILTERS = [{}, {"status": "new"}, {"regulation": "gdpr"}, {"overdue": "true"},
               {"overdue": "false"}]


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


@pytest.fixture
def make_client(db):
    def make(name: str) -> tuple[ApiClient, str]:
        client = ApiClient(name=name, scopes=list(ALL_SCOPES))
        return client, clients.create_client(client, actor=Actor.system("tests")).key

    return make


def populate(make_case, n: int, **fields) -> None:
    """`n` more cases, a third overdue, each with a job, so every column has something to show."""
    for i in range(n):
        received = timezone.now() - dt.timedelta(days=50 if i % 3 == 0 else 1)
        case = make_case(received_at=received, external_ref=f"T-{Case.objects.count()}",
                         **fields)
        VendorJob.objects.create(case=case, vendor="adobe_privacy", action="access")


def captured(client, url: str, params: dict) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200
    return [q["sql"] for q in queries.captured_queries]


def counts(statements: list[str]) -> list[str]:
    return [sql for sql in statements if "COUNT(" in sql.upper()]


@pytest.mark.parametrize("params", ADMIN_FILTERS)
def test_admin_case_list_counts_once_whatever_the_filter(officer_client, make_case, params):
    populate(make_case, 3)
    statements = captured(officer_client, reverse(CHANGELIST), params)
    assert len(counts(statements)) == 1, counts(statements)


def test_admin_case_list_queries_are_the_same_for_10_and_60_rows(officer_client, make_case):
    populate(make_case, 10)
    small = {str(p): len(captured(officer_client, reverse(CHANGELIST), p)) for p in ADMIN_FILTERS}
    populate(make_case, 50)
    large = {str(p): len(captured(officer_client, reverse(CHANGELIST), p)) for p in ADMIN_FILTERS}
    assert small == large


def test_api_list_queries_are_the_same_for_10_and_60_rows(make_client, make_case):
    client, key = make_client("Ticketing")
    api = http_for(key)
    populate(make_case, 10, api_client=client)
    small = {str(p): len(captured(api, "/api/v1/cases/", p)) for p in API_FILTERS}
    populate(make_case, 50, api_client=client)
    large = {str(p): len(captured(api, "/api/v1/cases/", p)) for p in API_FILTERS}
    assert small == large
    assert set(small.values()) == {6}  # key, count, page, jobs, results, messages


def page_query(statements: list[str]) -> str:
    return next(sql for sql in statements
                if sql.startswith('SELECT "cases_case"."id"') and "ORDER BY" in sql)


def top_plan(sql: str) -> str:
    """SQLite's plan of the query itself, without its per-row subqueries (the response state)."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return " | ".join(str(row[3]) for row in cursor.fetchall() if row[1] == 0)


@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="reads SQLite's query plan")
@pytest.mark.parametrize("params", [{}, {"regulation__exact": "gdpr"}])
def test_admin_case_list_is_read_in_due_date_order_off_an_index(officer_client, make_case,
                                                                params):
    populate(make_case, 3)
    plan = top_plan(page_query(captured(officer_client, reverse(CHANGELIST), params)))
    assert "TEMP B-TREE" not in plan, plan  # no sort of the whole table for a page of 50
    assert "case_due_order_idx" in plan or "case_regulation_due_idx" in plan, plan


@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="reads SQLite's query plan")
def test_api_list_is_read_in_id_order_off_the_client_index(make_client, make_case):
    client, key = make_client("Ticketing")
    populate(make_case, 3, api_client=client)
    plan = top_plan(page_query(captured(http_for(key), "/api/v1/cases/", {})))
    assert "TEMP B-TREE" not in plan, plan
    assert "case_client_order_idx" in plan, plan


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="pg_class.reltuples")
def test_huge_unfiltered_admin_list_shows_an_estimate_instead_of_counting(
    officer_client, make_case, settings
):
    settings.ADMIN_COUNT_ESTIMATE_ABOVE = 5
    populate(make_case, 8)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")
    statements = captured(officer_client, reverse(CHANGELIST), {})
    assert not [sql for sql in statements if 'COUNT(*) AS "__count"' in sql]
    assert b"about 8 cases" in officer_client.get(reverse(CHANGELIST)).content
    filtered = captured(officer_client, reverse(CHANGELIST), {"regulation__exact": "ccpa"})
    assert len(counts(filtered)) == 1  # a filtered list under the threshold is counted exactly


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="pg_class.reltuples")
def test_small_unfiltered_admin_list_is_counted_exactly(officer_client, make_case, settings):
    settings.ADMIN_COUNT_ESTIMATE_ABOVE = 100
    populate(make_case, 8)
    content = officer_client.get(reverse(CHANGELIST)).content
    assert b"8 cases" in content and b"about" not in content


def test_admin_case_list_renders_no_template_per_row(officer_client, make_case):
    def rendered() -> list[str]:
        return [t.name for t in officer_client.get(reverse(CHANGELIST)).templates]

    populate(make_case, 10)
    small = rendered()
    populate(make_case, 30)
    assert "django/forms/widgets/checkbox.html" not in small  # Django's row checkboxes
    assert len(rendered()) == len(small)


def test_admin_row_checkbox_is_the_one_django_would_render(make_case):
    from django.contrib import admin as django_admin

    from cases.admin import CaseAdmin

    case = make_case()
    model_admin = CaseAdmin(Case, django_admin.site)
    assert model_admin.action_checkbox(case) == django_admin.ModelAdmin.action_checkbox(
        model_admin, case
    )


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="pg_class.reltuples")
def test_huge_unfiltered_api_list_gives_an_estimate_and_says_so(make_client, make_case,
                                                               settings):
    settings.ADMIN_COUNT_ESTIMATE_ABOVE = 5
    feed = ApiClient(name="Reporting feed", scopes=[*ALL_SCOPES, ApiScope.CASES_ALL])
    key = clients.create_client(feed, actor=Actor.system("tests")).key  # sees the whole table
    populate(make_case, 8)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")
    http = http_for(key)
    statements = captured(http, "/api/v1/cases/", {})
    assert not [sql for sql in statements if 'COUNT(*) AS "__count"' in sql]
    body = http.get("/api/v1/cases/").json()
    assert (body["count"], body["count_is_estimate"]) == (8, True)
    one = Case.objects.order_by("pk").first().external_ref
    filtered = http.get("/api/v1/cases/", {"external_ref": one}).json()
    assert (filtered["count"], filtered["count_is_estimate"]) == (1, False)


def test_the_api_list_says_its_count_is_exact(make_client, make_case):
    client, key = make_client("Ticketing")
    populate(make_case, 3, api_client=client)
    body = http_for(key).get("/api/v1/cases/").json()
    assert list(body)[:2] == ["count", "count_is_estimate"]
    assert (body["count"], body["count_is_estimate"]) == (3, False)


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="pg_class.reltuples")
def test_paging_by_next_reaches_every_case_when_the_estimate_falls_short(make_case, settings):
    settings.ADMIN_COUNT_ESTIMATE_ABOVE = 5
    feed = ApiClient(name="Reporting feed", scopes=[*ALL_SCOPES, ApiScope.CASES_ALL])
    key = clients.create_client(feed, actor=Actor.system("tests")).key
    populate(make_case, 8)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")
    populate(make_case, 4)  # the planner still thinks there are 8
    http, seen, url = http_for(key), [], "/api/v1/cases/?page_size=5"
    while url:
        body = http.get(url).json()
        assert (body["count"], body["count_is_estimate"]) == (8, True)
        seen += [case["id"] for case in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(Case.objects.values_list("pk", flat=True))
    assert len(seen) == 12
    assert http.get("/api/v1/cases/?page_size=5&page=4").json()["results"] == []
    assert http.get("/api/v1/cases/?page=0").status_code == 404


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the planner's estimate")
def test_a_huge_filtered_list_counts_up_to_the_threshold_then_estimates(
    make_client, make_case, officer_client, settings
):
    settings.ADMIN_COUNT_ESTIMATE_ABOVE = 5
    client, key = make_client("Ticketing")
    populate(make_case, 9, api_client=client)
    populate(make_case, 2)  # another client's: the filter leaves them out
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")
    statements = captured(http_for(key), "/api/v1/cases/", {})
    [count] = [sql for sql in statements if sql.startswith("SELECT COUNT(*)")]
    assert "LIMIT 6" in count  # never more than threshold + 1 rows counted
    assert "cases_portaltoken" not in count  # nor any of the page's annotations
    assert [sql for sql in statements if sql.startswith("EXPLAIN")]
    body = http_for(key).get("/api/v1/cases/").json()
    assert body["count_is_estimate"] is True and 6 <= body["count"] <= 11
    content = officer_client.get(reverse(CHANGELIST), {"status__exact": "new"}).content
    assert b"about " in content
    small = http_for(key).get("/api/v1/cases/", {"regulation": "ccpa"}).json()
    assert small["count_is_estimate"] is False
    assert small["count"] == Case.objects.filter(api_client=client, regulation="ccpa").count()
