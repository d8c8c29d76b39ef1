"""Counting the statements a piece of work sends to the database."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# Transaction control: SQLite's BEGIN and COMMIT pass through Django's cursor, PostgreSQL's do
# not; savepoints do on both. The issue counts the statements that do the work, as the tests do.
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


class Counter:
    statements = 0


@contextmanager
def counting() -> Iterator[Counter]:
    """Counts this thread's statements (without keeping them: a sync pass sends thousands)."""
    counter = Counter()

    def count(execute, sql, params, many, context):
        if not sql.lstrip().upper().startswith(CONTROL):
            counter.statements += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counter
