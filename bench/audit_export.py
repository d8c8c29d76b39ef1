"""Audit export benchmark: memory and time to export and verify 10k, 50k and 100k events.

Memory is the peak of Python allocations (tracemalloc) while one export streams to a file, so it
counts rows, JSON and CSV buffers but not the interpreter and Django already loaded. The naive
baseline loads the whole trail as model instances, which is what a flat export avoids.
"""

import gc
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from django.db import connection

from bench.fixtures import append_events
from cases.audit import verify_chain
from cases.exports import ExportFilter, prepare_export
from cases.models import AuditEvent

MB = 1024 * 1024


def measure(work: Callable[[], object]) -> tuple[float, float]:
    """(seconds, peak MB): timed on its own first, since tracemalloc slows Python down."""
    gc.collect()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    gc.collect()
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / MB


def _export_to(fmt: str, folder: Path) -> Callable[[], int]:
    def work() -> int:
        export = prepare_export(fmt, ExportFilter())
        target = folder / f"audit.{fmt}"
        with open(target, "w", encoding="utf-8", newline="") as handle:
            export.write_to(handle)
        return target.stat().st_size

    return work


def _naive() -> int:
    return len(list(AuditEvent.objects.order_by("seq")))


def _row(label: str, events: int, seconds: float, peak: float) -> str:
    return f"{label:<27} {events:>8,} events {seconds:>7.2f} s {peak:>8.1f} MB peak"


def run(sizes: tuple[int, ...] = (10_000, 50_000, 100_000), baseline: bool = True) -> None:
    if AuditEvent.objects.exists():
        raise SystemExit("The benchmark needs an empty audit trail (a scratch database).")
    print(f"Database: {connection.vendor} ({connection.settings_dict['NAME']})")
    with tempfile.TemporaryDirectory() as folder:
        total = 0
        for size in sizes:
            started = time.perf_counter()
            append_events(size - total)
            total = size
            print(f"\n{size:,} events written in {time.perf_counter() - started:.1f} s")
            for fmt in ("csv", "jsonl"):
                seconds, peak = measure(_export_to(fmt, Path(folder)))
                size_mb = (Path(folder) / f"audit.{fmt}").stat().st_size / MB
                print(_row(f"export {fmt} ({size_mb:.0f} MB file)", size, seconds, peak))
            seconds, peak = measure(lambda: verify_chain().ok or _fail())
            print(_row("verify_audit", size, seconds, peak))
        if baseline:
            seconds, peak = measure(_naive)
            print(_row("naive list(all events)", total, seconds, peak))


def _fail() -> None:
    raise SystemExit("The benchmark's chain does not verify.")



def main(args) -> list:
    """`python -m bench audit`: the export at 10k, 50k and --events events (printed, no row)."""
    sizes = tuple(s for s in (10_000, 50_000) if s < args.events) + (args.events,)
    run(sizes, baseline=not args.no_baseline)
    return []
