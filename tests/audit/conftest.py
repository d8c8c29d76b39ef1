"""Helpers for the audit tests: tampering with rows the way someone with database access would."""

import json

import pytest
from django.db import connection

from cases.audit import Actor, record
from cases.models import AuditEvent

TABLE = AuditEvent._meta.db_table


def tamper(sql: str, params: list | tuple = ()) -> None:
    """Run raw SQL on the audit table, first disabling its append-only trigger on PostgreSQL
    as an attacker with DDL rights could (the test's transaction rolls the DDL back)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        cursor.execute(sql.format(table=TABLE), params)


def tamper_details(event_id: int, details: dict) -> None:
    """Overwrite one event's details in place (PostgreSQL wants the JSON cast to jsonb)."""
    if connection.vendor == "postgresql":
        sql = "UPDATE {table} SET details = %s::jsonb WHERE id = %s"
    else:
        sql = "UPDATE {table} SET details = %s WHERE id = %s"
    tamper(sql, [json.dumps(details), event_id])


@pytest.fixture
def chain(db) -> list[AuditEvent]:
    """Ten events written through record(), as the services write them."""
    actor = Actor.system("tests")
    return [
        record("test.step", actor=actor, details={"step": n, "outcome": "ok"}) for n in range(10)
    ]
