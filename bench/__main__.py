"""Run the benchmarks: `DEBUG=true python -m bench [NAME ...] [--database-url URL] [--huge]`.

NAMEs (default: all, in this order): audit (audit export and verification), intake (API intake
vs a raw SQL insert loop), sync (one sync pass over 400 Adobe jobs vs a bare `requests` loop
making the same calls), burst (300 cases from 10 clients: Adobe create calls), lists (admin and
API case lists at 2 000 and 20 000 cases; 200 000 with --huge).

By default everything happens in a temporary SQLite database that is deleted afterwards, so the
configured database is never touched. `--database-url` points at a scratch database instead
(e.g. an empty PostgreSQL database); it is migrated and must hold no cases and no audit events.
The figures end as one Markdown table, each measure beside its baseline from the same run.
"""

import argparse
import importlib
import logging
import os
import sys
import tempfile

# In this order whatever the command line says: the audit export needs an empty trail, and the
# sync pass must find no jobs but its own (the burst leaves some, sent to its own sandbox).
BENCHES = ("audit", "intake", "sync", "burst", "lists")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"which benchmarks ({', '.join(BENCHES)}); default all")
    parser.add_argument("--database-url", help="a scratch database instead of temporary SQLite")
    parser.add_argument(
        "--events", type=int, default=100_000, help="largest trail to export (default 100000)"
    )
    parser.add_argument("--no-baseline", action="store_true",
                        help="audit: skip the naive baseline")
    parser.add_argument("--huge", action="store_true", help="lists: also at 200 000 cases")
    parser.add_argument("--list-sizes", default="2000,20000",
                        help="lists: case counts to measure at, comma-separated")
    parser.add_argument("--runs", type=int, default=5,
                        help="sync: interleaved rounds, medians compared (default 5)")
    parser.add_argument("--cases", type=int, default=None,
                        help="intake, burst, sync: cases per run (defaults: 300, 300, 200)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    args.names = [n for n in BENCHES if n in args.names] if args.names else list(BENCHES)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as folder:
        # Before Django reads its settings: the benchmark never writes to the configured DB.
        os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{folder}/bench.sqlite3"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        # Intake and bursts call faster than a ticketing system is allowed to; a log line per
        # vendor call would be most of the output (and of the time).
        os.environ["API_THROTTLE_RATE"] = "10000000/min"
        os.environ["LOG_LEVEL"] = "WARNING"
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection

        # DEBUG=true is needed for the development secrets, but it also makes Django keep every
        # query it runs, which would count against the memory and time being measured.
        # Mail to subjects stays in memory.
        settings.DEBUG = False
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        for noisy in ("django-q", "connectors.sandbox"):  # a line per task or request otherwise
            logging.getLogger(noisy).setLevel(logging.WARNING)
        call_command("migrate", verbosity=0, interactive=False)
        _require_scratch()
        print(f"Database: {connection.vendor} ({connection.settings_dict['NAME']})")
        rows = []
        for name in args.names:
            print(f"\n=== {name}")
            rows += importlib.import_module(f"bench.{_MODULES[name]}").main(args) or []
        if rows:
            from bench.table import render

            print(f"\nSummary ({connection.vendor}):\n")
            print(render(rows))
    return 0


_MODULES = {"audit": "audit_export", "intake": "intake", "burst": "burst", "sync": "sync",
            "lists": "lists"}


def _require_scratch() -> None:
    from cases.models import AuditEvent, Case

    if Case.objects.exists() or AuditEvent.objects.exists():
        raise SystemExit("The benchmarks need an empty scratch database (no cases, no audit).")


if __name__ == "__main__":
    sys.exit(main())
