"""Run the benchmarks: `DEBUG=true python -m bench [--events N] [--database-url URL]`.

By default everything happens in a temporary SQLite database that is deleted afterwards, so the
configured database is never touched. `--database-url` points at a scratch database instead
(e.g. an empty PostgreSQL database); it is migrated and must hold no audit events.
"""

import argparse
import os
import sys
import tempfile


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--events", type=int, default=100_000, help="largest trail to export (default 100000)"
    )
    parser.add_argument("--database-url", help="a scratch database instead of temporary SQLite")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as folder:
        # Before Django reads its settings: the benchmark never writes to the configured DB.
        os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{folder}/bench.sqlite3"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        # DEBUG=true is needed for the development secrets, but it also makes Django keep every
        # query it runs, which would count against the memory being measured.
        settings.DEBUG = False
        call_command("migrate", verbosity=0, interactive=False)
        from bench import audit_export

        sizes = tuple(s for s in (10_000, 50_000) if s < args.events) + (args.events,)
        audit_export.run(sizes, baseline=not args.no_baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
