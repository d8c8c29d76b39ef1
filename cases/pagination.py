"""Counting a list's rows once, and cheaply on a huge table (the admin and API case lists)."""

from django.conf import settings
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connection
from django.db.models import QuerySet
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """Counts a list's rows once, and, for a whole table on PostgreSQL above
    ADMIN_COUNT_ESTIMATE_ABOVE rows, takes the planner's estimate (pg_class.reltuples): an exact
    COUNT(*) there reads every row, and would make the list slower the more cases there are.

    One statement either way: the estimate, or the exact count when the estimate is small or
    unknown (-1 before the table was first analysed). A filtered list is always counted exactly.

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
