"""The hash chain: tampering of every kind is caught and the first broken event is named."""

import io
import threading

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from cases.audit import (
    GENESIS_HASH,
    VERIFIED_ACTION,
    Actor,
    ChainHead,
    Pending,
    chain_head,
    check_anchor,
    compute_hash,
    hash_fields,
    last_verification,
    record,
    record_many,
    run_scheduled_verification,
    verify_chain,
)
from cases.models import AuditEvent
from tests.audit.conftest import tamper, tamper_details


def run_verify(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_each_event_links_to_the_previous_hash(chain):
    assert chain[0].prev_hash == GENESIS_HASH
    for before, after in zip(chain, chain[1:], strict=False):
        assert after.prev_hash == before.hash
        assert after.seq == before.seq + 1
    assert all(event.hash == compute_hash(event) for event in chain)


def test_hash_covers_what_the_database_gives_back(chain):
    stored = AuditEvent.objects.get(pk=chain[3].pk)
    assert compute_hash(stored) == chain[3].hash


def test_intact_chain_verifies_and_the_command_exits_0(chain):
    result = verify_chain()
    assert result.ok
    assert result.events == 10
    assert result.head == ChainHead(chain[-1].seq, chain[-1].hash) == chain_head()
    code, out, _ = run_verify()
    assert code == 0
    assert out.strip() == f"Audit chain intact: 10 events, head {chain[-1].hash}"


def test_empty_chain_is_intact(db):
    assert verify_chain().ok
    assert chain_head() == ChainHead(0, GENESIS_HASH)


def test_edited_details_are_caught_at_that_event(chain):
    target = chain[4]
    tamper_details(target.pk, {"step": 4, "outcome": "never happened"})
    result = verify_chain()
    assert not result.ok
    assert (result.broken.seq, result.broken.event_id) == (target.seq, target.pk)
    assert "edited" in result.broken.reason
    code, _, err = run_verify()
    assert code == 1
    assert err.strip() == (
        f"Audit chain broken at event #{target.seq} (id {target.pk}): {result.broken.reason}"
    )


def test_edited_and_rehashed_event_is_caught_at_the_next_one(chain):
    target, following = chain[4], chain[5]
    edited = AuditEvent.objects.get(pk=target.pk)
    edited.actor_label = "someone else"
    new_hash = compute_hash(edited)
    tamper("UPDATE {table} SET actor_label = %s, hash = %s WHERE id = %s",
           ["someone else", new_hash, target.pk])
    result = verify_chain()
    assert (result.broken.seq, result.broken.event_id) == (following.seq, following.pk)
    assert "prev_hash" in result.broken.reason


def test_deleted_middle_event_is_caught_at_the_gap(chain):
    deleted, following = chain[6], chain[7]
    tamper("DELETE FROM {table} WHERE id = %s", [deleted.pk])
    result = verify_chain()
    assert (result.broken.seq, result.broken.event_id) == (following.seq, following.pk)
    assert f"event #{deleted.seq} is missing" in result.broken.reason
    assert result.events == 6
    code, _, err = run_verify()
    assert code == 1
    assert f"Audit chain broken at event #{following.seq} (id {following.pk})" in err


def test_deleted_first_event_is_caught(chain):
    tamper("DELETE FROM {table} WHERE id = %s", [chain[0].pk])
    result = verify_chain()
    assert (result.broken.seq, result.broken.event_id) == (chain[1].seq, chain[1].pk)
    assert "#1 is missing" in result.broken.reason


def test_reordered_events_are_caught_at_the_first_moved_one(chain):
    early, late = chain[2], chain[7]
    # Swap their seq values; the temporary value keeps the unique index happy.
    tamper("UPDATE {table} SET seq = %s WHERE id = %s", [10**12, early.pk])
    tamper("UPDATE {table} SET seq = %s WHERE id = %s", [early.seq, late.pk])
    tamper("UPDATE {table} SET seq = %s WHERE id = %s", [late.seq, early.pk])
    result = verify_chain()
    # The event now at the earlier position is the one that was moved there.
    assert (result.broken.seq, result.broken.event_id) == (early.seq, late.pk)
    assert "out of order" in result.broken.reason
    code, _, err = run_verify()
    assert code == 1
    assert f"Audit chain broken at event #{early.seq} (id {late.pk})" in err


def test_deleting_from_the_end_is_caught_by_an_earlier_head(chain):
    anchor = chain_head()
    tamper("DELETE FROM {table} WHERE seq >= %s", [chain[8].seq])
    assert verify_chain().ok  # what is left is still a valid chain...
    assert "no longer in the chain" in check_anchor(anchor)  # ...but not the one exported
    code, _, err = run_verify("--expect-head", f"{anchor.seq}:{anchor.hash}")
    assert code == 1
    assert f"does not hold the expected head #{anchor.seq}" in err


def test_expected_head_passes_while_the_chain_grows(chain):
    anchor = chain_head()
    record("test.later", actor=Actor.system("tests"))
    code, out, _ = run_verify("--expect-head", f"{anchor.seq}:{anchor.hash}")
    assert code == 0
    assert f"Expected head #{anchor.seq} is in the chain, unchanged." in out


def test_expected_head_must_be_well_formed(chain):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="SEQ:HASH"):
        call_command("verify_audit", "--expect-head", "12:nothex")


def test_orm_cannot_change_or_delete_audit_rows(chain):
    event = AuditEvent.objects.get(pk=chain[0].pk)
    event.action = "changed"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="changed")
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert verify_chain().ok


def test_details_refuse_personal_data_keys(db):
    with pytest.raises(ValueError, match="personal data"):
        record("test.bad", actor=Actor.system("tests"), details={"email": "a@example.org"})


def test_hash_fields_accepts_an_exported_row(chain):
    row = {name: getattr(chain[2], name) for name in ("seq", "actor_type", "actor_id",
                                                      "actor_label", "action", "case_id",
                                                      "case_reference", "object_type",
                                                      "object_id", "details")}
    row["created_at"] = chain[2].created_at.isoformat()
    assert hash_fields(chain[2].prev_hash, row) == chain[2].hash


# --------------------------------------------------------------------------- scheduled check


def test_scheduled_verification_records_its_outcome(chain):
    assert last_verification() is None
    message = run_scheduled_verification()
    assert message.startswith("Audit chain intact: 10 events")
    latest = last_verification()
    assert latest.ok and latest.events == 10 and latest.head_seq == chain[-1].seq
    event = AuditEvent.objects.get(action=VERIFIED_ACTION)
    assert event.details["head_hash"] == chain[-1].hash
    assert verify_chain().ok  # recording the check extends the chain properly


def test_scheduled_verification_records_a_break(chain, caplog):
    tamper("DELETE FROM {table} WHERE id = %s", [chain[3].pk])
    message = run_scheduled_verification()
    assert message.startswith(f"Audit chain broken at event #{chain[4].seq}")
    latest = last_verification()
    assert not latest.ok
    assert latest.broken_seq == chain[4].seq
    assert "missing" in latest.reason
    assert "Audit chain broken" in caplog.text


def test_verify_command_can_record_for_the_admin_home(chain):
    code, _, _ = run_verify("--record")
    assert code == 0
    assert last_verification().ok


def test_verify_reads_in_chunks(chain, django_assert_max_num_queries):
    # Three chunks of four rows: still a handful of queries, not one per event.
    with django_assert_max_num_queries(4):
        assert verify_chain(chunk_size=4).events == 10


def test_a_batch_links_on_from_the_head_and_verifies(chain, django_assert_max_num_queries):
    actor = Actor.system("tests")
    batch = [Pending("test.batch", actor, details={"n": n}) for n in range(50)]
    with django_assert_max_num_queries(5):  # savepoint, lock, head, one insert, release
        written = record_many(batch)
    assert [e.seq for e in written] == list(range(11, 61))
    assert written[0].prev_hash == chain[-1].hash
    stored = list(AuditEvent.objects.filter(seq__gt=10).order_by("seq"))
    assert [e.hash for e in stored] == [e.hash for e in written]
    assert all(e.hash == compute_hash(e) for e in stored)
    code, out, _ = run_verify()
    assert code == 0 and "60 events" in out
    record("test.after_batch", actor=actor)
    assert verify_chain().events == 61


def test_an_edited_event_inside_a_batch_is_caught_there(chain):
    written = record_many([Pending("test.batch", Actor.system("tests"), details={"n": n})
                           for n in range(5)])
    tamper_details(written[2].pk, {"n": 99})
    result = verify_chain()
    assert result.broken.seq == written[2].seq
    assert "edited" in result.broken.reason


def test_a_batch_with_personal_data_writes_nothing(chain):
    actor = Actor.system("tests")
    with pytest.raises(ValueError, match="email"):
        record_many([Pending("test.ok", actor), Pending("test.bad", actor, details={"email": "x"})])
    assert AuditEvent.objects.count() == 10
    assert record_many([]) == []


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (DATABASE_URL=postgres://...)")


@pytest.mark.postgres
def test_trigger_refuses_raw_update_and_delete(chain):
    """The trigger the migration installed refuses raw SQL; only disabling it lets tampering in."""
    _postgres_only()
    with connection.cursor() as cursor:
        for sql in ("UPDATE cases_auditevent SET action = 'x' WHERE id = %s",
                    "DELETE FROM cases_auditevent WHERE id = %s"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(sql, [chain[0].pk])
    record("test.after_trigger", actor=Actor.system("tests"))  # inserts still work
    assert verify_chain().ok
    tamper("UPDATE {table} SET action = 'x' WHERE id = %s", [chain[0].pk])
    assert not verify_chain().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_the_chain_linear():
    _postgres_only()
    threads, per_thread = 8, 25
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                record("test.concurrent", actor=Actor.system(f"thread {n}"), details={"i": i})
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    rows = list(AuditEvent.objects.order_by("seq").values_list("seq", "prev_hash", "hash"))
    assert [seq for seq, _, _ in rows] == list(range(1, threads * per_thread + 1))
    assert all(row[1] == before[2] for before, row in zip(rows, rows[1:], strict=False))
    result = verify_chain()
    assert result.ok and result.events == threads * per_thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_and_single_writers_keep_the_chain_linear():
    _postgres_only()
    threads, rounds = 6, 10
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(rounds):
                actor = Actor.system(f"thread {n}")
                if n % 2:
                    record_many([Pending("test.batch", actor, details={"i": i, "k": k})
                                 for k in range(5)])
                else:
                    record("test.single", actor=actor, details={"i": i})
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    total = 3 * rounds * 5 + 3 * rounds
    result = verify_chain()
    assert result.ok and result.events == total
