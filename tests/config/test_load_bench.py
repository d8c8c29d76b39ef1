"""The load run (bench/load.py) works end to end, tiny, on PostgreSQL only.

It starts gunicorn, the vendor sandbox and a worker on a scratch database: a worker whose pooled
connections crossed django-q2's fork never settled, so this also guards that.
"""

import os
import re
import subprocess
import sys

import pytest
from django.db import connection

from tests.config.test_settings import ROOT

pytestmark = pytest.mark.postgres


def _admin_url() -> str:
    db = connection.settings_dict
    user = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"


def test_load_run_posts_settles_and_reports_every_figure():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.load", "--cases", "8", "--clients", "3",
         "--web-concurrency", "1", "--threads", "2", "--settle-timeout", "180",
         "--admin-url", _admin_url()],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=400, check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    out = done.stdout
    assert re.search(r"accepted\s+8 \(", out), out
    for figure in ("5xx", "lost", "duplicates"):
        assert re.search(rf"{figure}\s+0\b", out), out
    peak = int(re.search(r"connections peak\s+(\d+)", out).group(1))
    assert 1 <= peak <= 15, out  # 1 web process x 2 + the worker's processes
    assert re.search(r"time to settle\s+[\d.]+ s", out), out


def test_load_run_refuses_unbounded_or_non_postgres_runs():
    for args in (["--cases", "100000"], ["--clients", "0"], ["--admin-url", "sqlite:///x"]):
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "bench.load", *args], cwd=ROOT,
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert done.returncode == 2, done.stderr
        assert "must be" in done.stderr
