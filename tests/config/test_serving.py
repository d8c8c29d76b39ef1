"""Production serving: pooled PostgreSQL connections, gunicorn's config, WhiteNoise statics."""

import json
import os
import re
import subprocess
import sys

import pytest
import requests

from tests.config.test_settings import ROOT, _manage
from tests.serving import gunicorn, production_env

POSTGRES_URL = "postgres://privacydesk:secret@db.example.com:5432/privacydesk"
SHOW_DATABASE = (
    "import json; from django.conf import settings; d = settings.DATABASES['default']; "
    "print(json.dumps({'pool': d.get('OPTIONS', {}).get('pool'), "
    "'conn_max_age': d.get('CONN_MAX_AGE'), 'checks': d.get('CONN_HEALTH_CHECKS')}))"
)


def _database(**env: str) -> dict:
    # DEBUG on: the shell only reads settings, and production would want real secrets.
    result = _manage("shell", "-c", SHOW_DATABASE, DEBUG="true", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_postgres_gets_a_bounded_pool_and_no_persistent_connections():
    database = _database(
        DATABASE_URL=POSTGRES_URL, DB_POOL_MIN_SIZE="2", DB_POOL_MAX_SIZE="8", CONN_MAX_AGE="60"
    )
    assert database == {
        "pool": {"min_size": 2, "max_size": 8, "timeout": 10.0},
        "conn_max_age": 0,
        "checks": True,  # each connection is checked as it leaves the pool
    }


def test_the_pool_can_be_turned_off_for_an_external_pooler():
    database = _database(DATABASE_URL=POSTGRES_URL, DB_POOL="false", CONN_MAX_AGE="0")
    assert database == {"pool": None, "conn_max_age": 0, "checks": True}


def test_sqlite_has_no_pool():
    assert _database(DATABASE_URL="sqlite:///:memory:")["pool"] is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DB_POOL_MAX_SIZE": "0"}, "DB_POOL_MAX_SIZE (0) must"),
        ({"DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "4"}, "DB_POOL_MIN_SIZE (5) and"),
        ({"DB_POOL_MIN_SIZE": "-1"}, "DB_POOL_MIN_SIZE (-1) and"),
        ({"DB_POOL_TIMEOUT": "0"}, "DB_POOL_TIMEOUT must be more than 0 seconds"),
    ],
)
def test_pool_bounds_out_of_range_are_refused_at_startup(env, message):
    result = _manage("check", DEBUG="true", DATABASE_URL=POSTGRES_URL, **env)
    assert result.returncode != 0
    assert message in result.stderr


def _gunicorn_config(**env: str) -> dict:
    from gunicorn.config import Config

    script = (
        "import json, runpy; c = runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps({k: c[k] for k in ('wsgi_app', 'workers', 'threads', 'timeout', "
        "'bind', 'access_log_format', 'worker_class')}))"
    )
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("GUNICORN_", "WEB_CONCURRENCY"))}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], cwd=ROOT, env={**clean, **env},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    Config().set("access_log_format", values["access_log_format"])  # gunicorn accepts it
    return values


def test_gunicorn_config_reads_workers_threads_and_timeout_from_the_environment():
    values = _gunicorn_config(WEB_CONCURRENCY="3", GUNICORN_THREADS="6", GUNICORN_TIMEOUT="45")
    assert values["wsgi_app"] == "config.wsgi:application"
    assert (values["workers"], values["threads"], values["timeout"]) == (3, 6, 45)
    assert values["worker_class"] == "gthread"
    defaults = _gunicorn_config()
    assert (defaults["workers"], defaults["threads"], defaults["timeout"]) == (2, 4, 60)


def test_gunicorn_access_log_never_holds_the_query_string():
    log_format = _gunicorn_config()["access_log_format"]
    assert "%(U)s" in log_format
    # %(r)s is the request line with its query, %(q)s the query, %(f)s the referrer, %(h)s
    # the client's address: all can be personal data.
    fields = set(re.findall(r"%\(\w+\)s", log_format))
    assert not {"%(r)s", "%(q)s", "%(f)s", "%(h)s"} & fields


@pytest.fixture
def production(tmp_path) -> dict[str, str]:
    return production_env(tmp_path)


def test_gunicorn_serves_the_admin_with_its_static_files_when_debug_is_off(production):
    with gunicorn(production) as server:
        assert requests.get(f"{server.url}/healthz", timeout=5).json() == {"status": "ok"}
        page = requests.get(f"{server.url}/admin/login/?next=/admin/secret-search", timeout=5)
        assert page.status_code == 200
        # Hashed names from the manifest, served by WhiteNoise with a far-future cache header.
        css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page.text)
        assert css, page.text[:2000]
        static = requests.get(server.url + css.group(1), headers={"Accept-Encoding": "gzip"},
                              timeout=5)
        assert static.status_code == 200
        assert static.headers["Content-Type"].startswith("text/css")
        assert "immutable" in static.headers["Cache-Control"]
    # The access log (gunicorn.conf.py) names the path, never the query string.
    assert '"GET /admin/login/ HTTP/1.1" 200' in server.output
    assert "secret-search" not in server.output


def test_the_worker_keeps_plain_connections_because_django_q_forks():
    # A pool opened in qcluster's parent would be inherited by every forked worker process.
    script = (
        "import json, os, sys; sys.argv = ['manage.py', 'qcluster']; "
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(json.dumps([d.get('OPTIONS', {}).get('pool'), d['CONN_MAX_AGE']]))"
    )
    clean = {k: v for k, v in os.environ.items() if k != "CONN_MAX_AGE"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**clean, "DEBUG": "true", "DATABASE_URL": POSTGRES_URL},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [None, 60]
