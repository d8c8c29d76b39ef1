"""Counting a list's rows once, and cheaply on a huge table (the admin and API case lists)."""

import json

from django.conf import settings
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connection
from django.db.models import QuerySet
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """Counts a list's rows once, exactly up to ADMIN_COUNT_ESTIMATE_ABOVE rows; beyond that, on
    PostgreSQL, it takes the planner's estimate: an exact COUNT(*) reads every row, and would
    make the list slower the more cases there are.

    - A whole table: one statement, the table's estimate (pg_class.reltuples), or the exact
      count when that is small or unknown (-1 before the table was first analysed).
    - A filtered list: rows are counted up to the threshold (COUNT over a LIMIT, so never more
      than threshold + 1 rows are read); past it, the planner's estimate for the filter
      (EXPLAIN), never less than what was counted.

    An estimate can fall short of the real count (rows added since the table was analysed), so
    with one no page number past the estimate is refused, and whether a page has a next one is
    read off the rows themselves (one more row is fetched), not off the count: paging by "next"
    reaches every row whatever the estimate said.
    """

    estimated = False  # whether `count` is the planner's estimate (the pagination says "about")

    @cached_property
    def count(self) -> int:
        threshold = settings.ADMIN_COUNT_ESTIMATE_ABOVE
        queryset = self.object_list
        if not (threshold and isinstance(queryset, QuerySet)
                and connection.vendor == "postgresql"):
            return super().count
        if queryset.query.where:
            return self._count_filtered(queryset, threshold)
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

    def _count_filtered(self, queryset: QuerySet, threshold: int) -> int:
        counted = queryset.order_by().values("pk")[:threshold + 1].count()  # no annotations
        if counted <= threshold:
            return counted
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)  # Django's SQL, bound params
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        self.estimated = True
        return max(int(plan[0]["Plan"]["Plan Rows"]), counted)

    def validate_number(self, number) -> int:
        if not (self.count and self.estimated):  # `count` tells whether it is an estimate
            return super().validate_number(number)
        try:  # Django's checks, but for the last one: the estimate is no upper bound
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number

    def page(self, number) -> Page:
        number = self.validate_number(number)
        if not self.estimated:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom:bottom + self.per_page + 1])
        return RowCheckedPage(rows[:self.per_page], number, self,
                              more=len(rows) > self.per_page)


class RowCheckedPage(Page):
    """A page of an estimated list: it has a next page if a row follows it."""

    def __init__(self, object_list, number: int, paginator: Paginator, *, more: bool) -> None:
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more
