"""A busy threaded server stays within the connection pool's bound (PostgreSQL only).

Before the pool, every request thread of a threaded server opened its own connection and kept
it (CONN_MAX_AGE): 10 API clients took PostgreSQL past max_connections.
"""

import threading
import time

import psycopg
import pytest
import requests
from django.conf import settings
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
CLIENTS = 10
REQUESTS_EACH = 15


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")


def _connections_to(database: str, params: dict) -> int:
    """Backends open on `database`, counted from a connection to another database."""
    with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as watcher:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        ).fetchone()
    return row[0]


def test_ten_concurrent_clients_stay_within_the_pool_bound(live_server):
    bound = settings.DB_POOL_MAX_SIZE
    params = connection.get_connection_params()
    params.pop("context", None)
    database = connection.settings_dict["NAME"]
    peak, statuses, done = 0, [], threading.Event()

    def client() -> None:
        with requests.Session() as session:
            for _ in range(REQUESTS_EACH):
                # /readyz runs several queries per request (database, migrations, worker, queue).
                statuses.append(session.get(f"{live_server.url}/readyz", timeout=30).status_code)

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _connections_to(database, params))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    clients = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(timeout=120)
    time.sleep(0.5)  # connections a leaking server would still hold after the burst
    peak = max(peak, _connections_to(database, params))
    done.set()
    watcher.join()

    assert len(statuses) == CLIENTS * REQUESTS_EACH
    assert set(statuses) <= {200, 503}  # no worker in this test: readiness may fail, never 500
    assert 1 <= peak <= bound, f"{peak} connections open, pool bound {bound}"


def test_pooled_connections_killed_by_a_database_restart_are_replaced(live_server):
    params = connection.get_connection_params()
    params.pop("context", None)
    database = connection.settings_dict["NAME"]
    assert requests.get(f"{live_server.url}/readyz", timeout=30).status_code in (200, 503)
    connection.close()  # back to the pool with the others

    # What a restart or failover does to every pooled connection.
    with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", [database],
        ).fetchone()[0]
    assert killed >= 1

    body = requests.get(f"{live_server.url}/readyz", timeout=30).json()
    assert body["checks"]["database"] == {"ok": True}
