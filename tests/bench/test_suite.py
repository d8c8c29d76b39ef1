"""`make bench` runs each measure with its baseline, on a scratch database: here with tiny sizes.
Timings are not asserted (benchmarks, not timed tests); the query counts the issue sets are."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> str:
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": "sqlite:////nonexistent/never.db"}
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench", *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_every_measure_runs_beside_its_baseline_in_one_summary():
    out = bench("intake", "burst", "sync", "lists", "--cases", "4", "--list-sizes", "20,60")
    assert "Database: sqlite" in out and "never.db" not in out
    summary = out.split("Summary (sqlite):", 1)[1]
    for measure in ("API intake, one case per call", "Adobe create calls, burst of 4 cases",
                    "sync pass over 8 Adobe jobs (4 cases)", "admin case list, 50 of 60",
                    "API list, 50 of 60"):
        assert measure in summary
    assert "raw SQL insert loop" in summary and "bare loop, same" in summary
    sql_per_case = float(re.search(r"([\d.]+) SQL per case", summary).group(1))
    assert sql_per_case <= 12  # the worker's wake-up after commit included
    for queries, base in re.findall(r"(\d+) queries \((\d+) at 20\)", summary):
        assert queries == base  # the lists' queries do not grow with the table


def test_an_unknown_benchmark_is_refused_by_name():
    env = {**os.environ, "DEBUG": "true"}
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench", "lsits"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert done.returncode == 2 and "unknown benchmark(s) lsits" in done.stderr
