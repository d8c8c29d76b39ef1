"""Audit exports: CSV and JSON Lines, filters, stamps, formula neutralising, flat memory."""

import csv
import datetime as dt
import gc
import io
import json
import tracemalloc

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from bench.fixtures import append_events
from cases.audit import Actor, ChainHead, chain_head, hash_fields, record
from cases.exports import COLUMNS, EXPORTED_ACTION, ExportFilter, neutralise, start_export
from cases.models import AuditEvent

ACTOR = Actor.system("tests")


def export_text(fmt: str, filters: ExportFilter | None = None) -> str:
    out = io.StringIO()
    start_export(fmt, filters or ExportFilter(), actor=ACTOR).write_to(out)
    return out.getvalue()


def csv_rows(text: str) -> tuple[list[dict], list[str]]:
    """The event rows as dicts, and the stamp row."""
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(COLUMNS)
    assert rows[-1][0] == "#stamp"
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:-1]], rows[-1]


def jsonl_rows(text: str) -> tuple[list[dict], dict]:
    lines = [json.loads(line) for line in text.splitlines()]
    return lines[:-1], lines[-1]["export"]


@pytest.mark.parametrize(
    "cell",
    ["=HYPERLINK(\"http://x\")", "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"],
)
def test_formula_cells_are_neutralised(cell):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["case.created", "", "1-2", "a=b", "DSAR-2026-000001"])
def test_ordinary_cells_are_left_alone(cell):
    assert neutralise(cell) == cell


def test_csv_export_neutralises_what_a_spreadsheet_would_run(db):
    for label in ("=cmd|' /C calc'!A0", "+SUM(1)", "-1+1", "@A1", "\tTAB", "\rCR"):
        record("test.formula", actor=Actor.system(label))
    rows, _ = csv_rows(export_text("csv"))
    labels = [row["actor_label"] for row in rows if row["action"] == "test.formula"]
    assert labels == ["'=cmd|' /C calc'!A0", "'+SUM(1)", "'-1+1", "'@A1", "'\tTAB", "'\rCR"]
    # JSON Lines keeps the exact value: it is the format whose hashes can be recomputed.
    events, _ = jsonl_rows(export_text("jsonl"))
    assert events[0]["actor_label"] == "=cmd|' /C calc'!A0"


def test_jsonl_rows_carry_everything_their_hash_covers(make_case):
    make_case()
    events, stamp = jsonl_rows(export_text("jsonl"))
    assert events
    for event in events:
        assert hash_fields(event["prev_hash"], event) == event["hash"]
    for before, after in zip(events, events[1:], strict=False):
        assert after["prev_hash"] == before["hash"]
    assert stamp["chain_head_hash"] == events[-1]["hash"]


def test_export_is_stamped_with_the_chain_head_and_count(make_case):
    make_case()
    head = chain_head()
    events, stamp = jsonl_rows(export_text("jsonl"))
    assert stamp["chain_head_seq"] == head.seq
    assert stamp["chain_head_hash"] == head.hash
    assert stamp["events"] == len(events) == head.seq
    head = chain_head()  # the JSON Lines export's own event is the new head
    _, csv_stamp = csv_rows(export_text("csv"))
    assert f"chain_head_seq={head.seq}" in csv_stamp
    assert f"chain_head_hash={head.hash}" in csv_stamp
    assert f"events={head.seq}" in csv_stamp


def test_export_stops_at_the_head_it_started_from(make_case):
    make_case()
    export = start_export("jsonl", ExportFilter(), actor=ACTOR)
    record("test.later", actor=ACTOR)  # written while the export streams
    events = [json.loads(line) for line in export.lines()][:-1]
    assert [e["seq"] for e in events] == list(range(1, export.head.seq + 1))
    assert "test.later" not in {e["action"] for e in events}


def test_each_export_is_audited_with_filters_and_count(make_case):
    case = make_case()
    filters = ExportFilter.for_cases([case], since=dt.date(2026, 1, 1))
    export = start_export("csv", filters, actor=ACTOR)
    event = AuditEvent.objects.filter(action=EXPORTED_ACTION).latest("seq")
    assert event.seq == export.head.seq + 1  # the export's own event is not in the export
    assert event.details == {
        "format": "csv",
        "filters": {"case_count": 1, "case_ids": [case.pk], "case_references": [case.reference],
                    "since": "2026-01-01"},
        "events": export.count,
        "head_seq": export.head.seq,
        "head_hash": export.head.hash,
    }


def test_export_filters_by_case(make_case):
    first, second = make_case(), make_case(subject_email="grace@example.org")
    rows, _ = csv_rows(export_text("csv", ExportFilter.for_cases([second])))
    assert rows
    assert {row["case_reference"] for row in rows} == {second.reference}
    assert first.reference not in export_text("csv", ExportFilter.for_cases([second]))


def test_export_filters_by_period_with_until_inclusive(db):
    day = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
    append_events(5, first_at=day - dt.timedelta(days=1), step=dt.timedelta(days=1))
    # Events on 9, 10, 11, 12 and 13 March.
    filters = ExportFilter(since=dt.date(2026, 3, 10), until=dt.date(2026, 3, 12))
    events, stamp = jsonl_rows(export_text("jsonl", filters))
    assert [e["created_at"][:10] for e in events] == ["2026-03-10", "2026-03-11", "2026-03-12"]
    assert stamp["filters"] == {"since": "2026-03-10", "until": "2026-03-12"}


def test_export_without_matches_still_carries_its_stamp(db):
    events, stamp = jsonl_rows(export_text("jsonl", ExportFilter(action="nothing.like.this")))
    assert events == []
    assert stamp["events"] == 0
    assert stamp["chain_head_seq"] == 0


def test_export_never_holds_personal_data(make_case):
    make_case(subject_name="Ada Lovelace", subject_email="ada.lovelace@example.org")
    for fmt in ("csv", "jsonl"):
        text = export_text(fmt)
        assert "Lovelace" not in text and "ada.lovelace" not in text


# --------------------------------------------------------------------------- the command


def test_command_writes_a_csv_export_of_one_case(make_case, tmp_path):
    case = make_case()
    make_case(subject_email="grace@example.org")
    target = tmp_path / "case.csv"
    out = io.StringIO()
    call_command("export_audit", "--format", "csv", "--case", case.reference,
                 "--output", str(target), stdout=out)
    rows, stamp = csv_rows(target.read_text(encoding="utf-8"))
    assert {row["case_reference"] for row in rows} == {case.reference}
    head = ChainHead(*AuditEvent.objects.filter(action=EXPORTED_ACTION)
                     .values_list("details__head_seq", "details__head_hash").get())
    assert f"Exported {len(rows)} events to {target} (chain head #{head.seq} {head.hash})." in (
        out.getvalue()
    )
    assert not list(tmp_path.glob("*.partial"))


def test_command_writes_jsonl_for_a_period(db, tmp_path):
    append_events(4, first_at=dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC),
                  step=dt.timedelta(days=1))
    target = tmp_path / "may.jsonl"
    call_command("export_audit", "--format", "jsonl", "--since", "2026-05-02",
                 "--until", "2026-05-03", "--output", str(target), stdout=io.StringIO())
    events, stamp = jsonl_rows(target.read_text(encoding="utf-8"))
    assert [e["created_at"][:10] for e in events] == ["2026-05-02", "2026-05-03"]
    assert stamp["format"] == "jsonl"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-13-01"], "--since must be a date as YYYY-MM-DD, not '2026-13-01'"),
        (["--until", "yesterday"], "--until must be a date as YYYY-MM-DD, not 'yesterday'"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "--since must be on or before"),
        (["--case", "DSAR-1999-000001"], "No case with reference 'DSAR-1999-000001'"),
    ],
)
def test_command_refuses_bad_input_clearly(db, tmp_path, args, message):
    target = tmp_path / "out.csv"
    with pytest.raises(CommandError, match=message):
        call_command("export_audit", "--format", "csv", *args, "--output", str(target))
    assert not target.exists()
    assert not AuditEvent.objects.filter(action=EXPORTED_ACTION).exists()


def test_command_refuses_a_missing_directory(db, tmp_path):
    with pytest.raises(CommandError, match="is not a directory"):
        call_command("export_audit", "--format", "csv",
                     "--output", str(tmp_path / "nowhere" / "out.csv"))


def test_command_needs_format_and_output(db):
    with pytest.raises(CommandError, match="--format"):
        call_command("export_audit", "--output", "x.csv")
    with pytest.raises(CommandError, match="--output"):
        call_command("export_audit", "--format", "csv")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("export_audit", "--format", "xlsx", "--output", "x.xlsx")


# --------------------------------------------------------------------------- memory


def _peak_export_mb(fmt: str) -> float:
    export = start_export(fmt, ExportFilter(), actor=ACTOR)
    gc.collect()
    tracemalloc.start()
    written = 0
    for line in export.lines():  # stream to nowhere: only the export's own memory counts
        written += len(line)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert written > 0
    return peak / 1024 / 1024


def test_export_memory_stays_flat_as_the_trail_grows(db):
    append_events(5_000, first_at=timezone.now() - dt.timedelta(days=30))
    small = {fmt: _peak_export_mb(fmt) for fmt in ("csv", "jsonl")}
    append_events(15_000)
    large = {fmt: _peak_export_mb(fmt) for fmt in ("csv", "jsonl")}
    for fmt in ("csv", "jsonl"):
        assert large[fmt] < 20, f"{fmt} export of 20,000 events peaked at {large[fmt]:.1f} MB"
        # Four times the events, about the same memory: only one chunk of rows is ever held.
        assert large[fmt] < small[fmt] * 1.5 + 1, (
            f"{fmt}: {small[fmt]:.1f} MB at 5,000 events, {large[fmt]:.1f} MB at 20,000"
        )
