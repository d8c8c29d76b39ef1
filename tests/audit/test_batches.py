"""A batch of audit events chains exactly like events written one by one, however it is
inserted (COPY for long batches on PostgreSQL, bulk_create otherwise)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases import audit
from cases.audit import Actor, Pending, record, record_many, verify_chain
from cases.models import AuditEvent

WORKER = Actor.system("worker")


@pytest.mark.parametrize("size", [audit.COPY_ABOVE - 1, audit.COPY_ABOVE, 120])
def test_a_batch_chains_verifies_and_comes_back_with_its_ids(make_case, size: int) -> None:
    case = make_case()
    record("test.before", actor=WORKER, case=case)
    events = record_many([
        Pending("job.status_changed", WORKER, case, case,
                {"from": "processing", "to": "complete", "n": n, "codes": ["6000-200"]})
        for n in range(size)
    ])
    record("test.after", actor=WORKER, case=case)
    assert verify_chain().ok
    stored = {e.pk: e for e in AuditEvent.objects.filter(action="job.status_changed")}
    assert sorted(stored) == sorted(e.pk for e in events) and None not in stored
    for event in events:
        again = stored[event.pk]
        assert (again.seq, again.hash, again.prev_hash) == (event.seq, event.hash, event.prev_hash)
        assert again.details == event.details and again.case_id == case.pk
        assert again.created_at == event.created_at
    assert AuditEvent.objects.filter(details__n=size - 1, details__to="complete").count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="COPY is PostgreSQL's")
def test_a_long_batch_goes_in_by_copy_on_postgresql(make_case) -> None:
    case = make_case()
    with CaptureQueriesContext(connection) as queries:
        record_many([Pending("test.many", WORKER, case, case, {"n": n})
                     for n in range(audit.COPY_ABOVE)])
    statements = [q["sql"] for q in queries.captured_queries]
    assert not [sql for sql in statements if sql.startswith("INSERT")]
    assert AuditEvent.objects.filter(action="test.many").count() == audit.COPY_ABOVE
