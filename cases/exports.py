"""Audit trail exports: CSV and JSON Lines, by case and/or period, streamed in constant memory.

An export is cut at the chain head of the moment it starts: it holds exactly the matching events
with `seq <= head.seq`, so its row count is known up front and never moves. Its last line is a
stamp with that head's seq and hash (and the count and filters), so a copy can be checked later
against the live chain (`manage.py verify_audit --expect-head SEQ:HASH`); a file without its stamp
line was cut short. Every export is itself audited as `audit.exported`.

JSON Lines carries every field exactly as hashed, so each event's hash can be recomputed from the
file. CSV is for people and spreadsheets: cells that a spreadsheet would run as a formula are
neutralised with a leading apostrophe (OWASP "CSV injection"), which changes those cells.
"""

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from django.db.models import QuerySet
from django.utils import timezone

from cases.audit import HASHED_FIELDS, Actor, ChainHead, chain_head, record
from cases.models import AuditEvent, Case

FORMATS = ("csv", "jsonl")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}
COLUMNS = (*HASHED_FIELDS, "prev_hash", "hash")
EXPORT_VERSION = "privacy-desk-audit-export/1"
EXPORTED_ACTION = "audit.exported"
# Rows fetched per round trip: bounds memory (a chunk of rows is all that is ever held).
CHUNK_SIZE = 2000
# A spreadsheet treats a cell starting with one of these as a formula (OWASP CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Cases picked one by one are recorded by id and reference up to this many (and always counted):
# the audit event and the stamp stay small however many were picked.
RECORDED_CASES_LIMIT = 50


def neutralise(cell: str) -> str:
    """Prefix an apostrophe so a spreadsheet shows the text instead of running it."""
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@dataclass(frozen=True)
class ExportFilter:
    """Which events to export; empty fields mean no restriction. `until` is inclusive."""

    case_ids: tuple[int, ...] | None = None
    case_references: tuple[str, ...] = ()
    since: dt.date | None = None
    until: dt.date | None = None
    action: str = ""
    actor_type: str = ""
    # The audit changelist's search box (a part of a case reference).
    reference_contains: str = ""
    # How a "select all" on the case list chose the cases (its filters, whether a search was
    # used), recorded instead of the list of cases; None when they were picked one by one.
    case_selection: dict[str, Any] | None = None

    @classmethod
    def for_cases(cls, cases: QuerySet[Case] | Iterable[Case], **others: Any) -> "ExportFilter":
        if isinstance(cases, QuerySet):
            # values_list drops whatever select_related or ordering the caller's queryset
            # carries (an admin changelist's, say) and loads only what the filter needs.
            pairs = sorted(cases.order_by().values_list("pk", "reference"))
        else:
            pairs = sorted((case.pk, case.reference) for case in cases)
        return cls(
            case_ids=tuple(pk for pk, _ in pairs),
            case_references=tuple(ref for _, ref in pairs),
            **others,
        )

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.case_ids is not None:
            events = events.filter(case_id__in=self.case_ids)
        if self.since:
            events = events.filter(created_at__gte=_day_start(self.since))
        if self.until:
            events = events.filter(created_at__lt=_day_start(self.until + dt.timedelta(days=1)))
        if self.action:
            events = events.filter(action=self.action)
        if self.actor_type:
            events = events.filter(actor_type=self.actor_type)
        if self.reference_contains:
            events = events.filter(case_reference__icontains=self.reference_contains)
        return events

    def as_details(self) -> dict[str, Any]:
        """The filters as JSON (ids, codes and dates only), for the audit event and the stamp."""
        details: dict[str, Any] = {}
        if self.case_ids is not None:
            details.update(self._cases_details())
        for key in ("since", "until"):
            if getattr(self, key):
                details[key] = getattr(self, key).isoformat()
        for key in ("action", "actor_type"):
            if getattr(self, key):
                details[key] = getattr(self, key)
        if self.reference_contains:
            # A reference never holds an "@": such a term is someone's email, not to be kept.
            withheld = "@" in self.reference_contains
            details["reference_contains"] = "(withheld)" if withheld else self.reference_contains
        return details

    def _cases_details(self) -> dict[str, Any]:
        """The case count, and either how a select-all chose them or the first few picked."""
        assert self.case_ids is not None
        details: dict[str, Any] = {"case_count": len(self.case_ids)}
        if self.case_selection is not None:
            details["case_selection"] = self.case_selection
            return details
        details["case_ids"] = list(self.case_ids[:RECORDED_CASES_LIMIT])
        details["case_references"] = list(self.case_references[:RECORDED_CASES_LIMIT])
        if len(self.case_ids) > RECORDED_CASES_LIMIT:
            details["cases_listed"] = RECORDED_CASES_LIMIT
        return details

    @property
    def scope(self) -> str:
        """What an export of this filter holds, for its file name."""
        if self.case_ids is not None and len(self.case_ids) == 1:
            return self.case_references[0]
        selection = self.case_selection or {}
        if selection.get("filters") or selection.get("search"):
            return "filtered"  # a select-all over a filtered or searched case list
        if self.case_ids is not None:
            return f"cases-{len(self.case_ids)}"
        others = (self.since, self.until, self.action, self.actor_type, self.reference_contains)
        return "filtered" if any(others) else "all"


class Echo:
    """A file-like object whose write() hands the text back (Django's streaming CSV recipe)."""

    def write(self, value: str) -> str:
        return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


@dataclass(frozen=True)
class Export:
    """One export, fixed at a chain head; `lines()` streams it one row at a time."""

    format: str
    filters: ExportFilter
    head: ChainHead
    count: int
    generated_at: dt.datetime = field(default_factory=timezone.now)

    def events(self) -> QuerySet[AuditEvent]:
        return self.filters.apply(AuditEvent.objects.filter(seq__lte=self.head.seq))

    @property
    def filename(self) -> str:
        when = f"{self.generated_at:%Y%m%d-%H%M%S}"
        return f"audit-trail-{self.filters.scope}-{when}-head{self.head.seq}.{self.format}"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    def stamp(self) -> dict[str, Any]:
        return {
            "version": EXPORT_VERSION,
            "format": self.format,
            "events": self.count,
            "chain_head_seq": self.head.seq,
            "chain_head_hash": self.head.hash,
            "generated_at": self.generated_at.isoformat(),
            "filters": self.filters.as_details(),
        }

    def rows(self) -> Iterator[tuple[Any, ...]]:
        # values_list + a chunked iterator (a server-side cursor on PostgreSQL): no model
        # instances and no result cache, so memory holds one chunk whatever the size.
        return self.events().order_by("seq").values_list(*COLUMNS).iterator(chunk_size=CHUNK_SIZE)

    def lines(self) -> Iterator[str]:
        return self._csv_lines() if self.format == "csv" else self._jsonl_lines()

    def _csv_lines(self) -> Iterator[str]:
        writer = csv.writer(Echo())
        yield writer.writerow(COLUMNS)
        for row in self.rows():
            yield writer.writerow([neutralise(_text(value)) for value in row])
        stamp = [f"{key}={_text(value)}" for key, value in self.stamp().items()]
        yield writer.writerow([neutralise(cell) for cell in ["#stamp", *stamp]])

    def _jsonl_lines(self) -> Iterator[str]:
        for row in self.rows():
            event = {name: _jsonable(value) for name, value in zip(COLUMNS, row, strict=True)}
            yield json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        yield json.dumps({"export": self.stamp()}, ensure_ascii=False, separators=(",", ":")) + "\n"

    def write_to(self, out: TextIO) -> None:
        for line in self.lines():
            out.write(line)


def prepare_export(fmt: str, filters: ExportFilter) -> Export:
    """Fix the chain head and count the matching events; writes nothing to the trail."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format '{fmt}': choose csv or jsonl.")
    head = chain_head()
    count = filters.apply(AuditEvent.objects.filter(seq__lte=head.seq)).count()
    return Export(format=fmt, filters=filters, head=head, count=count)


def start_export(fmt: str, filters: ExportFilter, *, actor: Actor) -> Export:
    """Prepare an export and audit it before any row leaves, so even an aborted one is on record."""
    export = prepare_export(fmt, filters)
    record(
        EXPORTED_ACTION,
        actor=actor,
        details={
            "format": fmt,
            "filters": filters.as_details(),
            "events": export.count,
            "head_seq": export.head.seq,
            "head_hash": export.head.hash,
        },
    )
    return export
