"""Writing many rows in one statement: changed fields by primary key, new rows by COPY.

Django's `bulk_update` builds a `CASE WHEN pk = ... THEN ...` expression per field and row: for
a sync pass's 400 jobs that is 2 400 expressions resolved and compiled in Python (0.4 s, as
long as the pass's 400 HTTP calls on loopback) and a CASE the database walks row by row.
`update_rows` sends the rows as a VALUES list instead and joins on the primary key:

    UPDATE table SET f1 = v.f1, f2 = v.f2
    FROM (VALUES (%s, %s, %s), ...) AS v(pk, f1, f2) WHERE table.pk = v.pk

PostgreSQL and SQLite (3.33 and newer) both take it; values go through each field's own
`get_db_prep_save`, exactly what `save()` would send.
"""

from collections.abc import Sequence

from django.db import connections, models

# Rows per statement: SQLite allows 32 766 parameters; PostgreSQL's client-side binding none.
ROWS_PER_STATEMENT = 1000


def update_rows(objs: Sequence[models.Model], fields: Sequence[str], *,
                using: str = "default") -> int:
    """Write `fields` of every object in `objs` (all of one model) by primary key; rows seen."""
    if not objs:
        return 0
    model = type(objs[0])
    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        return model._base_manager.using(using).bulk_update(objs, fields)
    meta = model._meta
    pk = meta.pk
    targets = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    on_postgres = connection.vendor == "postgresql"
    if on_postgres:
        # PostgreSQL types a VALUES column from its rows' literals; the casts make every column
        # the field's own type (an all-NULL column would otherwise be text).
        names = [quote(pk.column), *(quote(field.column) for field in targets)]
        refs = [f"CAST(v.{quote(field.column)} AS {field.cast_db_type(connection)})"
                for field in targets]
        source = f"AS v({', '.join(names)})"
        key = f"v.{quote(pk.column)}"
    else:  # SQLite names a VALUES list's columns column1, column2, ...
        refs = [f"v.column{n}" for n in range(2, len(targets) + 2)]
        source, key = "AS v", "v.column1"
    assignments = ", ".join(f"{quote(field.column)} = {ref}" for field, ref in zip(
        targets, refs, strict=True))
    row_sql = "(" + ", ".join(["%s"] * (len(targets) + 1)) + ")"
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), ROWS_PER_STATEMENT):
            chunk = objs[start:start + ROWS_PER_STATEMENT]
            params: list = []
            for obj in chunk:
                params.append(pk.get_db_prep_save(obj.pk, connection))
                params.extend(field.get_db_prep_save(getattr(obj, field.attname), connection)
                              for field in targets)
            # Identifiers come from the model, quoted; every value is a parameter.
            cursor.execute(
                f"UPDATE {table} SET {assignments} "  # noqa: S608
                f"FROM (VALUES {', '.join([row_sql] * len(chunk))}) {source} "
                f"WHERE {table}.{quote(pk.column)} = {key}",
                params,
            )
            written += cursor.rowcount
    return written



def copy_rows(objs: Sequence[models.Model], *, using: str = "default") -> None:
    """INSERT `objs` (all of one model, primary keys unset) with PostgreSQL's COPY: a third of
    `bulk_create`'s time for a sync pass's 400 audit events, since no statement text is built or
    parsed. Primary keys are not set on the objects (COPY returns none): the caller reads them
    back by a unique field if it needs them."""
    if not objs:
        return
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise ValueError("COPY is PostgreSQL's; use bulk_create elsewhere")
    meta = type(objs[0])._meta
    fields = [field for field in meta.concrete_fields if field is not meta.pk]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    # Identifiers come from the model, quoted; the rows travel as COPY data.
    statement = f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for obj in objs:
            copy.write_row([field.get_db_prep_save(field.pre_save(obj, True), connection)
                            for field in fields])
