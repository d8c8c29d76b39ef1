"""Duplicate intake requests racing each other: exactly one case, every answer consistent.

Threads get their own database connections, so this needs real concurrent transactions:
PostgreSQL only (SQLite serialises writers, which proves nothing).
"""

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from cases.models import Case, IdempotencyRecord
from tests.api.conftest import case_body, http_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]
THREADS = 6


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")


def _race(send: Callable[[], object]) -> list:
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def run(slot: int) -> None:
        try:
            barrier.wait()
            results[slot] = send()
        except Exception as exc:  # surfaced by the assertions below
            results[slot] = exc
        finally:
            connection.close()  # each thread's own connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_duplicates_open_exactly_one_case(make_client):
    _, key = make_client("Ticketing")

    responses = _race(lambda: http_for(key).post("/api/v1/cases/", case_body(), format="json"))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (THREADS - 1) + [201]
    assert Case.objects.count() == 1
    assert {r.json()["id"] for r in responses} == {Case.objects.get().pk}


def test_concurrent_duplicates_with_one_key_replay_the_first_answer(make_client):
    _, key = make_client("Ticketing")

    def send():
        return http_for(key).post("/api/v1/cases/", case_body(), format="json",
                                  HTTP_IDEMPOTENCY_KEY="ticket-4711-create")

    responses = _race(send)

    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert Case.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


def test_one_key_racing_with_different_bodies_creates_one_case(make_client):
    _, key = make_client("Ticketing")

    def send_for(slot_ref: str):
        return http_for(key).post("/api/v1/cases/", case_body(external_ref=slot_ref),
                                  format="json", HTTP_IDEMPOTENCY_KEY="shared-key")

    refs = iter([f"TICKET-{i}" for i in range(THREADS)])
    lock = threading.Lock()

    def send():
        with lock:
            ref = next(refs)
        return send_for(ref)

    responses = _race(send)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (THREADS - 1)
    assert Case.objects.count() == 1
