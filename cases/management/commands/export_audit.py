"""Export the audit trail as CSV or JSON Lines, by case and/or period, to a file."""

import datetime as dt
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date

from cases.audit import Actor
from cases.exports import FORMATS, Export, ExportFilter, start_export
from cases.models import Case

ACTOR = Actor.system("export_audit command")


def _date(option: str, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        parsed = parse_date(value)
    except ValueError:  # well formed but impossible, e.g. 2026-02-30
        parsed = None
    if parsed is None:
        raise CommandError(f"--{option} must be a date as YYYY-MM-DD, not '{value}'.")
    return parsed


def _case(reference: str | None) -> Case | None:
    if reference is None:
        return None
    case = Case.objects.filter(reference__iexact=reference.strip()).only("pk", "reference").first()
    if case is None:
        raise CommandError(f"No case with reference '{reference}'.")
    return case


class Command(BaseCommand):
    help = (
        "Export the audit trail (CSV or JSON Lines) to a file, for one case and/or a period. "
        "The export is itself audited, and its last line stamps the chain head it was cut at."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
        parser.add_argument("--case", metavar="REF", help="Only this case (its reference).")
        parser.add_argument("--since", metavar="DATE", help="From this day (YYYY-MM-DD).")
        parser.add_argument("--until", metavar="DATE", help="To this day, inclusive.")
        parser.add_argument("--output", metavar="FILE", required=True, type=Path)

    def handle(self, *args, fmt: str, output: Path, **options) -> None:
        since, until = _date("since", options["since"]), _date("until", options["until"])
        if since and until and since > until:
            raise CommandError("--since must be on or before --until.")
        case = _case(options["case"])
        if not output.parent.is_dir():
            raise CommandError(f"Cannot write {output}: {output.parent} is not a directory.")
        filters = ExportFilter.for_cases([case], since=since, until=until) if case else (
            ExportFilter(since=since, until=until)
        )
        export = self._write(fmt, filters, output)
        self.stdout.write(
            f"Exported {export.count} events to {output} "
            f"(chain head #{export.head.seq} {export.head.hash})."
        )

    def _write(self, fmt: str, filters: ExportFilter, output: Path) -> Export:
        # Written beside the target and renamed at the end: a failed export leaves no
        # half-file that could pass for a complete one.
        partial = output.with_name(output.name + ".partial")
        try:
            with open(partial, "w", encoding="utf-8", newline="") as handle:
                export = start_export(fmt, filters, actor=ACTOR)
                export.write_to(handle)
            os.replace(partial, output)
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}") from None
        finally:
            partial.unlink(missing_ok=True)
        return export
