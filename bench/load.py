"""Load run: N cases posted by C concurrent API clients to gunicorn on PostgreSQL.

`python -m bench.load --cases 300 --clients 10` (or `make load`) creates a scratch PostgreSQL
database, migrates it, starts the vendor sandbox, gunicorn (gunicorn.conf.py) and one worker
(`qcluster`) against it, posts the cases with `submit: true`, waits until every vendor job has
settled, prints the figures and drops the database; it exits 1 if any post failed, any case was
lost or sent twice, or the jobs did not settle in time. Bounded: at most 5000 cases, 50 clients, and
`--settle-timeout` seconds of waiting. It never touches the configured database.

Figures: accepted/s and p50/p95 latency of the posts, 5xx answers, cases lost (posted but not in
the database), duplicate sends seen by the sandbox, the peak of PostgreSQL connections to the
scratch database (polled from pg_stat_activity) and the time from the last post to settled.
"""

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from statistics import quantiles
from tempfile import TemporaryDirectory

import psycopg
import requests
from cryptography.fernet import Fernet

from connectors.sandbox.config import SandboxConfig

ROOT = Path(__file__).resolve().parent.parent
MAX_CASES, MAX_CLIENTS = 5000, 50
OWN_NAME = "bench.load"  # this script's own connections, left out of the peak
# Jobs still on their way: settled means none is left in these states and no result waits.
UNSETTLED_SQL = """
    SELECT count(*) FROM cases_vendorjob
    WHERE status IN ('pending', 'sending', 'submitted', 'processing') OR result_status = 'pending'
"""


@dataclass
class Posts:
    """What the clients saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, status: int | None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if status is None:
                self.errors += 1
            else:
                self.statuses[status] += 1


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=300, help="cases to post (default 300)")
    parser.add_argument("--clients", type=int, default=10, help="concurrent clients (default 10)")
    parser.add_argument(
        "--admin-url", default=os.environ.get("LOAD_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL allowed to CREATE DATABASE (default: local postgres superuser)",
    )
    parser.add_argument("--web-concurrency", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per process")
    parser.add_argument("--log-dir", type=Path,
                        help="keep the sandbox, gunicorn and worker logs here")
    parser.add_argument("--settle-timeout", type=float, default=600,
                        help="seconds to wait for every job to settle (default 600)")
    args = parser.parse_args(argv)
    if not 1 <= args.cases <= MAX_CASES or not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--cases must be 1..{MAX_CASES} and --clients 1..{MAX_CLIENTS}")
    if not args.admin_url.startswith(("postgres://", "postgresql://")):
        parser.error("--admin-url must be a postgres:// URL: the load run is for PostgreSQL")
    return args


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new, empty database for this run, dropped afterwards (with anything still connected)."""
    name = f"privacydesk_load_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _environment(database_url: str, sandbox_port: int, folder: Path, args) -> dict[str, str]:
    """Production settings (DEBUG off) pointed at the scratch database and the sandbox."""
    sandbox, url = SandboxConfig(), f"http://127.0.0.1:{sandbox_port}"
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    return {
        **keep,
        "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url, "CACHE_URL": f"filecache://{folder / 'cache'}",
        "MEDIA_ROOT": str(folder / "media"), "API_THROTTLE_RATE": "1000000/min",
        "AUTO_ACKNOWLEDGE": "false", "LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": str(args.web_concurrency), "GUNICORN_THREADS": str(args.threads),
        "DB_POOL_MAX_SIZE": os.environ.get("DB_POOL_MAX_SIZE", str(args.threads)),
        "ADOBE_IMS_TOKEN_URL": f"{url}/adobe/ims/ims/token/v3",
        "ADOBE_PRIVACY_BASE_URL": f"{url}/adobe/privacy", "ID5_BASE_URL": f"{url}/id5",
        "ADOBE_HYGIENE_BASE_URL": f"{url}/adobe/hygiene",
        "ADOBE_CLIENT_ID": sandbox.client_id, "ADOBE_CLIENT_SECRET": sandbox.client_secret,
        "ADOBE_ORG_ID": sandbox.org_id, "ADOBE_DEFAULT_PRODUCTS": "analytics,profileService",
        "ID5_PARTNER_ID": str(sandbox.id5_partner_id), "ID5_TOKEN": sandbox.id5_token,
        "ID5_ACCESS_REQUESTS": "not_applicable",
        "RESULT_DOWNLOAD_HOSTS": f"127.0.0.1:{sandbox_port}",
    }


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # our own interpreter and manage.py
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=600, check=False,
    )
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def _spawn(env: dict[str, str], command: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_for(url: str, processes: list[subprocess.Popen], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit("a server exited while starting; see its log")
        with suppress(requests.RequestException):
            requests.get(url, timeout=2)
            return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds:g} s")


class ConnectionWatch:
    """Polls pg_stat_activity for connections to the scratch database; keeps the peak."""

    def __init__(self, admin_url: str, database: str) -> None:
        self.admin_url, self.database, self.peak = admin_url, database, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as watcher:
            while not self._stop.is_set():
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND application_name <> %s", [self.database, OWN_NAME]
                ).fetchone()
                self.peak = max(self.peak, row[0])
                time.sleep(0.05)

    def __enter__(self) -> "ConnectionWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _case(number: int, run: str) -> dict:
    email = f"load-{run}-{number}@example.org"
    return {
        "external_ref": f"LOAD-{run}-{number}",
        "regulation": "gdpr",
        "actions": ["access", "delete"],
        "subject": {"name": f"Load Subject {number}", "email": email},
        "identities": [{"namespace": "email", "value": email, "type": "standard"}],
        "submit": True,
    }


def post_cases(base: str, key: str, count: int, clients: int, run: str) -> tuple[Posts, float]:
    posts, numbers = Posts(), iter(range(count))
    numbers_lock = threading.Lock()

    def client() -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Api-Key {key}"
            while True:
                with numbers_lock:
                    number = next(numbers, None)
                if number is None:
                    return
                started = time.perf_counter()
                try:
                    answer = session.post(f"{base}/api/v1/cases/", json=_case(number, run),
                                          timeout=60)
                    status: int | None = answer.status_code
                except requests.RequestException:
                    status = None
                posts.add(time.perf_counter() - started, status)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return posts, time.perf_counter() - started


def wait_until_settled(database_url: str, timeout: float) -> float | None:
    """Seconds until no vendor job is left in flight, or None if `timeout` passed first."""
    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True, application_name=OWN_NAME) as db:
        while time.monotonic() - started < timeout:
            if db.execute(UNSETTLED_SQL).fetchone()[0] == 0:
                return time.monotonic() - started
            time.sleep(1)
    return None


def duplicates_at_sandbox(sandbox: str) -> int:
    """Sends the sandbox received twice: an Adobe job per (case key, action) more than once, or
    an ID5 deletion call beyond the requests it created (a repeat is refused by ID5's limit)."""
    state = requests.get(f"{sandbox}/_sandbox/state", timeout=30).json()
    adobe = Counter((job["userKey"], job["action"]) for job in state["privacy_jobs"])
    counters = requests.get(f"{sandbox}/_sandbox/counters", timeout=30).json()["counters"]
    id5_calls = sum(n for name, n in counters.items() if name.startswith("id5.create"))
    return sum(n - 1 for n in adobe.values()) + max(id5_calls - len(state["id5_requests"]), 0)


def _cases_in(database_url: str, run: str) -> int:
    with psycopg.connect(database_url, autocommit=True, application_name=OWN_NAME) as db:
        return db.execute(
            "SELECT count(*) FROM cases_case WHERE external_ref LIKE %s", [f"LOAD-{run}-%"]
        ).fetchone()[0]


def report(args, posts: Posts, seconds: float, stored: int, duplicates: int, peak: int,
           settled: float | None) -> bool:
    """Print the figures; True when nothing failed, was lost, sent twice or left unsettled."""
    accepted = posts.statuses[201] + posts.statuses[200]
    p50, p95 = (quantiles(posts.latencies, n=100)[i] * 1000 for i in (49, 94))
    server_errors = sum(n for status, n in posts.statuses.items() if status >= 500)
    print(f"Load: {args.cases} cases, {args.clients} clients, gunicorn {args.web_concurrency} "
          f"x {args.threads} threads, PostgreSQL")
    print(f"  accepted           {accepted} ({accepted / seconds:.1f}/s over {seconds:.1f} s)")
    print(f"  latency            p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    print(f"  5xx                {server_errors}")
    others = {status: n for status, n in posts.statuses.items() if status not in (200, 201)}
    print(f"  other answers      {others or 'none'}, "
          f"connection errors {posts.errors}")
    print(f"  lost               {args.cases - stored}")
    print(f"  duplicates         {duplicates} (at the sandbox)")
    print(f"  connections peak   {peak}")
    print(f"  time to settle     {f'{settled:.1f} s' if settled is not None else 'TIMED OUT'}")
    return (server_errors, posts.errors, args.cases - stored, duplicates) == (0, 0, 0, 0) and (
        settled is not None
    )


def run(args: argparse.Namespace) -> int:
    run_id = secrets.token_hex(3)
    with TemporaryDirectory() as tmp, scratch_database(args.admin_url) as database:
        folder, sandbox_port, web_port = Path(tmp), _free_port(), _free_port()
        logs = args.log_dir or folder
        logs.mkdir(parents=True, exist_ok=True)
        database_url = _with_database(args.admin_url, database)
        env = _environment(database_url, sandbox_port, folder, args)
        _manage(env, "migrate", "--noinput")
        key = _manage(env, "create_api_client", "Load", "--scopes", "cases:read",
                      "cases:write").strip().splitlines()[-1]
        manage = [sys.executable, "manage.py"]
        children = [
            _spawn(env, [*manage, "vendor_sandbox", "--port", str(sandbox_port), "--speed", "0"],
                   logs / "sandbox.log"),
            _spawn(env, [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi",
                         "--bind", f"127.0.0.1:{web_port}"], logs / "gunicorn.log"),
            _spawn(env, [*manage, "qcluster"], logs / "worker.log"),
        ]
        try:
            sandbox, web = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{web_port}"
            _wait_for(f"{sandbox}/_sandbox/health", children)
            _wait_for(f"{web}/healthz", children)
            with ConnectionWatch(args.admin_url, database) as watch:
                posts, seconds = post_cases(web, key, args.cases, args.clients, run_id)
                settled = wait_until_settled(database_url, args.settle_timeout)
            clean = report(args, posts, seconds, _cases_in(database_url, run_id),
                           duplicates_at_sandbox(sandbox), watch.peak, settled)
        finally:
            for child in reversed(children):
                _stop(child)
    return 0 if clean else 1


def main(argv: list[str] | None = None) -> int:
    return run(_parse(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
