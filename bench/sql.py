"""Counting the statements a piece of work sends to the database."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# Transaction control: SQLite's BEGIN and COMMIT pass through Django's cursor, PostgreSQL's do
# not; savepoints do on both. The issue counts the statements that do the work, as the tests do.
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


class Counter:
    statements = 0
    queue = 0  # of which, the task queue's (django-q's ORM broker: tables django_q_*)


@contextmanager
def counting() -> Iterator[Counter]:
    """Counts this thread's statements (without keeping them: a sync pass sends thousands)."""
    counter = Counter()

    def count(execute, sql, params, many, context):
        if not sql.lstrip().upper().startswith(CONTROL):
            counter.statements += 1
            counter.queue += '"django_q_' in sql
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counter
