"""Counting a list's rows once, and cheaply on a huge table (the admin and API case lists)."""

from django.conf import settings
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """Counts a list's rows once, and, for a whole table on PostgreSQL above
    ADMIN_COUNT_ESTIMATE_ABOVE rows, takes the planner's estimate (pg_class.reltuples): an exact
    COUNT(*) there reads every row, and would make the list slower the more cases there are.

    One statement either way: the estimate, or the exact count when the estimate is small or
    unknown (-1 before the table was first analysed). A filtered list is always counted exactly.
    """

    estimated = False  # whether `count` is the planner's estimate (the pagination says "about")

    @cached_property
    def count(self) -> int:
        threshold = settings.ADMIN_COUNT_ESTIMATE_ABOVE
        queryset = self.object_list
        whole_table = isinstance(queryset, QuerySet) and not queryset.query.where
        if not (threshold and whole_table and connection.vendor == "postgresql"):
            return super().count
        table = connection.ops.quote_name(queryset.model._meta.db_table)
        # The table name is the model's, never input.
        sql = (
            "SELECT reltuples > %s, CASE WHEN reltuples > %s THEN reltuples::bigint "  # noqa: S608
            f"ELSE (SELECT COUNT(*) FROM {table}) END FROM pg_class WHERE oid = %s::regclass"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [threshold, threshold, queryset.model._meta.db_table])
            self.estimated, count = cursor.fetchone()
        return int(count)
