"""API intake, one case per call: requests a second and SQL per case, against the floor of a raw
SQL loop inserting the same rows (case, subject, two identities, intake hash, acknowledgement,
two chained audit events) in a transaction a case, with every value prepared in advance.

The API calls go through Django's test client in this process (authentication, validation,
services, rendering; no network), one after the other, each with its own ticket.
"""

import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Model
from django.test import Client
from django.utils import timezone

from bench.sql import counting
from bench.table import Row
from cases.api import clients
from cases.audit import GENESIS_HASH, Actor, chain_head, compute_hash
from cases.choices import ApiScope
from cases.crypto import blind_index
from cases.models import (
    ApiClient,
    AuditEvent,
    Case,
    CaseIntake,
    DataSubject,
    Identity,
    Message,
)

SUBJECT = {"name": "Ada Lovelace", "email": "ada.lovelace@example.org"}
IDENTITIES = [
    {"namespace": "email", "value": "ada.lovelace@example.org", "type": "standard"},
    {"namespace": "ecid", "value": "44363657679975868102109072127", "type": "standard"},
]


def body(i: int) -> dict:
    return {"external_ref": f"INTAKE-{i}", "regulation": "gdpr", "actions": ["access", "delete"],
            "subject": SUBJECT, "identities": IDENTITIES}


def run_api(n: int) -> tuple[float, float, float]:
    """(seconds, SQL per case, of which to wake the worker) for `n` intake calls."""
    client = ApiClient(name="bench intake", scopes=[ApiScope.CASES_WRITE, ApiScope.CASES_READ])
    key = clients.create_client(client, actor=Actor.system("bench")).key
    http = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Api-Key {key}")
    http.post("/api/v1/cases/", body(-1), content_type="application/json")  # warm-up
    started = time.perf_counter()
    with counting() as sql:
        for i in range(n):
            response = http.post("/api/v1/cases/", body(i), content_type="application/json")
            if response.status_code != 201:
                raise SystemExit(f"Intake answered {response.status_code}: {response.content!r}")
    return time.perf_counter() - started, sql.statements / n, sql.queue / n


@dataclass
class Insert:
    """One INSERT ... RETURNING id, its parameters prepared (encrypted, indexed) once."""

    sql: str
    params: list
    columns: list[str]

    @classmethod
    def of(cls, obj: Model) -> "Insert":
        fields = [f for f in obj._meta.local_concrete_fields if not f.primary_key]
        quote = connection.ops.quote_name
        sql = (f"INSERT INTO {quote(obj._meta.db_table)} "  # noqa: S608  (the model's names)
               f"({', '.join(quote(f.column) for f in fields)}) "
               f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(obj._meta.pk.column)}")
        params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
        return cls(sql, params, [f.attname for f in fields])

    def run(self, cursor, **values) -> int:
        params = list(self.params)
        for name, value in values.items():
            params[self.columns.index(name)] = value
        cursor.execute(self.sql, params)
        return cursor.fetchone()[0]


def run_raw(n: int) -> float:
    """Seconds for `n` cases inserted by raw SQL, a transaction each."""
    now = timezone.now()
    today = timezone.localdate()
    case = Insert.of(Case(reference="", regulation="gdpr", actions="access,delete",
                          received_at=now, due_date=today, original_due_date=today))
    subject = Insert.of(DataSubject(case_id=0, **SUBJECT,
                                    email_index=blind_index(SUBJECT["email"])))
    identities = []
    for identity in IDENTITIES:
        row = Identity(subject_id=0, **identity)
        row.set_value_index()
        identities.append(Insert.of(row))
    intake = Insert.of(CaseIntake(case_id=0, request_hash="0" * 64))
    message = Insert.of(Message(case_id=0, kind="acknowledgement", recipient=SUBJECT["email"],
                                subject="We received your request", body="Dear Ada,\n" * 20,
                                body_sha256="0" * 64))
    head = chain_head()
    seq, prev = head.seq, head.hash or GENESIS_HASH
    started = time.perf_counter()
    for i in range(n):
        with transaction.atomic(), connection.cursor() as cursor:
            case_id = case.run(cursor, reference=f"RAW-{i}", external_ref=f"RAW-{i}")
            subject_id = subject.run(cursor, case_id=case_id)
            for identity in identities:
                identity.run(cursor, subject_id=subject_id)
            intake.run(cursor, case_id=case_id)
            message.run(cursor, case_id=case_id)
            for action in ("case.created", "message.queued"):
                seq, prev = seq + 1, _raw_event(cursor, seq + 1, prev, action, case_id, f"RAW-{i}")
    return time.perf_counter() - started


def _raw_event(cursor, seq: int, prev: str, action: str, case_id: int, reference: str) -> str:
    event = AuditEvent(seq=seq, created_at=timezone.now(), actor_type="system", actor_label="bench",
                       action=action, case_id=case_id, case_reference=reference,
                       object_type="Case", object_id=str(case_id), details={}, prev_hash=prev)
    event.hash = compute_hash(event)
    Insert.of(event).run(cursor)
    return event.hash


def run(n: int = 300) -> list[Row]:
    seconds, sql, queue = run_api(n)
    raw = run_raw(n)
    # The issue counts the request's own statements; waking the worker after the commit (with
    # Q_BROKER=orm, an insert into django-q's queue table; none with Redis) is shown apart.
    sql -= queue
    print(f"API intake: {n} calls in {seconds:.2f} s, {n / seconds:.0f} req/s, "
          f"{sql:.1f} SQL per case + {queue:.1f} to wake the worker")
    print(f"raw SQL loop: {n} cases in {raw:.2f} s, {n / raw:.0f} cases/s, 8 inserts a case")
    return [Row("API intake, one case per call", "raw SQL insert loop", raw / n * 1000,
                seconds / n * 1000, "ms",
                f"{n / seconds:.0f} req/s vs {n / raw:.0f}/s; {sql:.1f} SQL per case "
                f"(+ {queue:.0f} to wake the worker)")]


def main(args) -> list[Row]:
    return run(args.cases or 300)
