"""The export benchmark runs as documented, on its own temporary database."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_on_a_temporary_database():
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": "sqlite:////nonexistent/never.db"}
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench", "audit", "--events", "300", "--no-baseline"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Database: sqlite" in done.stdout and "never.db" not in done.stdout
    for label in ("export csv", "export jsonl", "verify_audit"):
        assert label in done.stdout
    assert "MB peak" in done.stdout
