"""Request metrics for a period, per regulation and request type (CCPA regs. § 7102 style).

The cohort is the cases *received* in the period; each measure describes what became of them:

- received: cases whose `received_at` falls in the period (dates inclusive, in TIME_ZONE);
- completed: complied with in whole or in part (status completed or closed);
- rejected: refused, counted by rejection reason code;
- extended: the deadline was extended;
- overdue: answered after the due date, or still unanswered with the clock running past it;
- open: neither completed nor rejected yet;
- days to respond (median and mean): from the day of receipt to the day of the response, for
  answered cases. The response is the close (or rejection) when there is one, else the moment
  the case became completed.
"""

import csv
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import TextChoices
from django.utils import timezone

from cases.choices import CaseActions, CaseStatus, Regulation, RejectionReason
from cases.exports import Echo, neutralise
from cases.models import Case

COMPLETED = frozenset({CaseStatus.COMPLETED, CaseStatus.CLOSED})
ALL = "all"
_FIELDS = (
    "regulation",
    "actions",
    "status",
    "rejection_code",
    "extended_at",
    "closed_at",
    "status_changed_at",
    "received_at",
    "due_date",
)


def responded_at(
    status: str, closed_at: dt.datetime | None, status_changed_at: dt.datetime | None
) -> dt.datetime | None:
    """When the subject was answered, or None while the case is unanswered."""
    if status in (CaseStatus.CLOSED, CaseStatus.REJECTED) and closed_at:
        return closed_at
    if status == CaseStatus.COMPLETED:
        return status_changed_at
    return None


def _label(choices: type[TextChoices], code: str, all_label: str) -> str:
    if code == ALL:
        return all_label
    return choices(code).label if code in choices.values else code


def _median(days: Counter[int]) -> float | None:
    n = days.total()
    if not n:
        return None
    middle = sorted(days.elements())
    return float(middle[n // 2]) if n % 2 else (middle[n // 2 - 1] + middle[n // 2]) / 2


@dataclass
class MetricsRow:
    """The measures of one (regulation, request type) group, or of the whole period."""

    regulation: str
    request_type: str
    received: int = 0
    completed: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    extended: int = 0
    overdue: int = 0
    # How many answered cases took how many days: enough for the median and mean.
    days: Counter[int] = field(default_factory=Counter)

    @property
    def rejected_total(self) -> int:
        return self.rejected.total()

    @property
    def open(self) -> int:
        return self.received - self.completed - self.rejected_total

    @property
    def median_days(self) -> float | None:
        return _median(self.days)

    @property
    def mean_days(self) -> float | None:
        n = self.days.total()
        return round(sum(d * c for d, c in self.days.items()) / n, 1) if n else None

    @property
    def regulation_label(self) -> str:
        return _label(Regulation, self.regulation, "All regulations")

    @property
    def request_type_label(self) -> str:
        return _label(CaseActions, self.request_type, "All request types")

    def add(self, case: dict, today: dt.date) -> None:
        self.received += 1
        if case["status"] in COMPLETED:
            self.completed += 1
        elif case["status"] == CaseStatus.REJECTED:
            self.rejected[case["rejection_code"] or RejectionReason.OTHER] += 1
        if case["extended_at"]:
            self.extended += 1
        answered = responded_at(case["status"], case["closed_at"], case["status_changed_at"])
        if answered is not None:
            answered_on = timezone.localdate(answered)
            self.days[(answered_on - timezone.localdate(case["received_at"])).days] += 1
            self.overdue += answered_on > case["due_date"]
        elif case["status"] != CaseStatus.ON_HOLD:  # a hold stops the clock
            self.overdue += case["due_date"] < today


@dataclass
class MetricsReport:
    since: dt.date
    until: dt.date
    rows: list[MetricsRow]
    total: MetricsRow


def _cases_received(since: dt.date, until: dt.date) -> Iterator[dict]:
    start = timezone.make_aware(dt.datetime.combine(since, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min))
    return (
        Case.objects.filter(received_at__gte=start, received_at__lt=end)
        .order_by()
        .values(*_FIELDS)
        .iterator(chunk_size=2000)
    )


def compute(since: dt.date, until: dt.date, *, today: dt.date | None = None) -> MetricsReport:
    """The measures for cases received from `since` to `until` (inclusive)."""
    if since > until:
        raise ValueError("The period must start on or before its end.")
    today = today or timezone.localdate()
    groups: dict[tuple[str, str], MetricsRow] = {}
    total = MetricsRow(ALL, ALL)
    for case in _cases_received(since, until):
        key = (case["regulation"], case["actions"])
        groups.setdefault(key, MetricsRow(*key)).add(case, today)
        total.add(case, today)
    rows = sorted(groups.values(), key=lambda r: (r.regulation_label, r.request_type_label))
    return MetricsReport(since, until, rows, total)


CSV_COLUMNS = (
    "period_start",
    "period_end",
    "regulation",
    "request_type",
    "received",
    "completed",
    "rejected",
    *(f"rejected_{code}" for code in RejectionReason.values),
    "extended",
    "overdue",
    "open",
    "median_days_to_respond",
    "mean_days_to_respond",
)


def _csv_row(report: MetricsReport, row: MetricsRow) -> list[str]:
    values = [
        report.since.isoformat(),
        report.until.isoformat(),
        row.regulation,
        row.request_type,
        row.received,
        row.completed,
        row.rejected_total,
        *(row.rejected[code] for code in RejectionReason.values),
        row.extended,
        row.overdue,
        row.open,
        "" if row.median_days is None else row.median_days,
        "" if row.mean_days is None else row.mean_days,
    ]
    return [neutralise(str(value)) for value in values]


def csv_lines(report: MetricsReport) -> Iterator[str]:
    """The report as CSV: one row per group, then the row for the whole period."""
    writer = csv.writer(Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in [*report.rows, report.total]:
        yield writer.writerow(_csv_row(report, row))
