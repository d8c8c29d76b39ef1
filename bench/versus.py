"""Side by side over HTTP: Privacy Desk against another DSR server, Ethyca Fides.

`python -m bench.versus --fides-url http://127.0.0.1:8090` (client id and secret of a Fides
OAuth client in FIDES_CLIENT_ID and FIDES_CLIENT_SECRET) creates a scratch PostgreSQL database,
migrates it and starts Privacy Desk under gunicorn with production settings (DEBUG off, one
process of 4 threads: one server process each, as `fides webserver` runs), then measures both
over loopback with the same `requests` client, in interleaved rounds:

- intake, one request per call: sequential calls (req/s, median of --rounds rounds of
  --per-round calls), then --clients concurrent clients (3 rounds of --per-client calls each).
  Privacy Desk gets `POST /api/v1/cases/` with an API key; Fides
  `POST /api/v1/privacy-request/authenticated` with one request in the list and a bearer token.
- a list page of 50 at each of --list-sizes: Privacy Desk's API list and its admin case list
  (signed in as an officer), Fides's privacy-request search (what its admin UI pages through).
  Both are filled to the size first (Fides 50 requests a call, its batch limit).

Fides must already be running on an empty PostgreSQL database with manual approval on
(FIDES__EXECUTION__REQUIRE_MANUAL_REQUEST_APPROVAL=true), so its intake only stores the request,
as Privacy Desk's does without `submit`. Fides is not installed by this project; README
"Memory and speed" says how it was run. The scratch database is dropped at the end.
"""

import argparse
import os
import re
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

import requests

from bench.load import (
    _environment,
    _free_port,
    _manage,
    _spawn,
    _stop,
    _wait_for,
    _with_database,
    scratch_database,
)

PAGE = 50
OFFICER, OFFICER_PASSWORD = "versus-officer", secrets.token_urlsafe(16)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.versus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fides-url", required=True, help="where Fides answers")
    parser.add_argument("--fides-policy", default="default_access_policy",
                        help="the Fides policy key of each request (default_access_policy)")
    parser.add_argument(
        "--admin-url", default=os.environ.get("LOAD_ADMIN_URL",
                                              "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL allowed to CREATE DATABASE (default: local postgres superuser)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="intake rounds (default 5)")
    parser.add_argument("--per-round", type=int, default=60, help="calls a round (default 60)")
    parser.add_argument("--clients", type=int, default=10,
                        help="concurrent intake clients (default 10)")
    parser.add_argument("--per-client", type=int, default=30,
                        help="calls each concurrent client makes a round (default 30)")
    parser.add_argument("--list-sizes", default="2000,20000",
                        help="cases in each server when its list is read (default 2000,20000)")
    args = parser.parse_args(argv)
    args.fides_client_id = os.environ.get("FIDES_CLIENT_ID", "")
    args.fides_client_secret = os.environ.get("FIDES_CLIENT_SECRET", "")
    if not args.fides_client_id or not args.fides_client_secret:
        parser.error("set FIDES_CLIENT_ID and FIDES_CLIENT_SECRET (a Fides OAuth client)")
    try:
        args.list_sizes = sorted({int(n) for n in args.list_sizes.split(",") if n.strip()})
    except ValueError:
        parser.error("--list-sizes takes whole numbers separated by commas")
    if not 1 <= args.rounds <= 50 or not 1 <= args.per_round <= 1000:
        parser.error("--rounds must be 1..50 and --per-round 1..1000")
    if not 1 <= args.clients <= 50 or not 1 <= args.per_client <= 1000:
        parser.error("--clients must be 1..50 and --per-client 1..1000")
    if any(not PAGE <= n <= 200_000 for n in args.list_sizes):
        parser.error(f"--list-sizes must be {PAGE}..200000")
    return args


class Servers:
    """The two servers' calls, each checked: a failed call stops the run, never counts."""

    def __init__(self, args, desk: str, key: str, fides: str) -> None:
        self.args, self.desk, self.key, self.fides = args, desk, key, fides
        self.run = secrets.token_hex(3)
        self.fides_token = self._fides_token()
        self.officer_cookie = self.sign_in()

    def _fides_token(self) -> str:
        answer = requests.post(f"{self.fides}/api/v1/oauth/token", timeout=30, data={
            "grant_type": "client_credentials", "client_id": self.args.fides_client_id,
            "client_secret": self.args.fides_client_secret,
        })
        if answer.status_code != 200:
            raise SystemExit(f"Fides refused the client credentials ({answer.status_code})")
        return answer.json()["access_token"]

    def sign_in(self) -> str:
        """The officer's session cookie. Production cookies are Secure, which `requests` keeps
        off plain http, so the cookies are carried by hand."""
        page = requests.get(f"{self.desk}/admin/login/", timeout=30)
        csrf = re.search(r"csrftoken=([^;]+)", page.headers.get("Set-Cookie", ""))
        field = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if page.status_code != 200 or not csrf or not field:
            raise SystemExit(f"the sign-in page answered {page.status_code} without a CSRF token")
        answer = requests.post(
            f"{self.desk}/admin/login/", timeout=30, allow_redirects=False,
            headers={"Cookie": f"csrftoken={csrf.group(1)}"},
            data={"csrfmiddlewaretoken": field.group(1), "username": OFFICER,
                  "password": OFFICER_PASSWORD, "next": "/admin/"},
        )
        session = re.search(r"sessionid=([^;]+)", answer.headers.get("Set-Cookie", ""))
        if answer.status_code != 302 or not session:
            raise SystemExit(f"signing in as the officer failed ({answer.status_code})")
        return f"sessionid={session.group(1)}; csrftoken={csrf.group(1)}"

    def desk_session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Api-Key {self.key}"
        return session

    def fides_session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.fides_token}"
        return session

    def desk_case(self, session: requests.Session, n: int) -> None:
        email = f"versus-{self.run}-{n}@example.org"
        answer = session.post(f"{self.desk}/api/v1/cases/", timeout=60, json={
            "external_ref": f"VS-{self.run}-{n}", "regulation": "gdpr", "actions": ["access"],
            "subject": {"name": f"Subject {n}", "email": email},
            "identities": [{"namespace": "email", "value": email, "type": "standard"}],
        })
        if answer.status_code != 201:
            raise SystemExit(f"Privacy Desk intake answered {answer.status_code}")

    def fides_requests(self, session: requests.Session, numbers: range) -> None:
        answer = session.post(
            f"{self.fides}/api/v1/privacy-request/authenticated", timeout=60,
            json=[{"identity": {"email": f"versus-{self.run}-{n}@example.org"},
                   "policy_key": self.args.fides_policy} for n in numbers],
        )
        if answer.status_code != 200 or answer.json().get("failed"):
            raise SystemExit(f"Fides intake answered {answer.status_code}: {answer.text[:200]}")

    def desk_api_page(self, session: requests.Session) -> None:
        answer = session.get(f"{self.desk}/api/v1/cases/?page_size={PAGE}", timeout=60)
        if answer.status_code != 200 or len(answer.json()["results"]) != PAGE:
            raise SystemExit(f"Privacy Desk's API list answered {answer.status_code}")

    def desk_admin_page(self, session: requests.Session) -> None:
        answer = session.get(f"{self.desk}/admin/cases/case/", timeout=60,
                             headers={"Cookie": self.officer_cookie}, allow_redirects=False)
        rows = answer.text.count('class="field-reference')
        if answer.status_code != 200 or rows != PAGE:
            raise SystemExit(f"Privacy Desk's admin list answered {answer.status_code} with "
                             f"{rows} rows, not {PAGE}")

    def fides_page(self, session: requests.Session) -> None:
        answer = session.post(f"{self.fides}/api/v1/privacy-request/search?page=1&size={PAGE}",
                              json={}, timeout=60)
        if answer.status_code != 200 or len(answer.json()["items"]) != PAGE:
            raise SystemExit(f"Fides's search answered {answer.status_code}")


def _seconds(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _median_ms(call: Callable[[], object], times: int = 20) -> float:
    call()  # warm
    return statistics.median(_seconds(call) for _ in range(times)) * 1000


def _concurrently(work: Callable[[], None], clients: int, per_client: int) -> float:
    """Requests a second of `clients` threads each making `per_client` calls."""
    threads = [threading.Thread(target=work) for _ in range(clients)]

    def all_of_them() -> None:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    return clients * per_client / _seconds(all_of_them)


def measure(args, servers: Servers) -> list[tuple[str, float, float]]:
    """(measure, Privacy Desk, Fides) rows."""
    desk, fides = servers.desk_session(), servers.fides_session()
    numbers = iter(range(10**9))

    def desk_calls(count: int) -> Callable[[], None]:
        chosen = [next(numbers) for _ in range(count)]
        return lambda: [servers.desk_case(desk, n) for n in chosen]

    def fides_calls(count: int) -> Callable[[], None]:
        chosen = [next(numbers) for _ in range(count)]
        return lambda: [servers.fides_requests(fides, range(n, n + 1)) for n in chosen]

    print(f"Intake: {args.rounds} rounds of {args.per_round} calls each, then {args.clients} "
          "clients at once", flush=True)
    desk_calls(10)()  # warm both
    fides_calls(10)()
    desk_rates, fides_rates = [], []
    for _ in range(args.rounds):
        desk_rates.append(args.per_round / _seconds(desk_calls(args.per_round)))
        fides_rates.append(args.per_round / _seconds(fides_calls(args.per_round)))
    rows = [("intake, one call at a time (req/s)", statistics.median(desk_rates),
             statistics.median(fides_rates))]

    def desk_client() -> None:
        with servers.desk_session() as own:
            for _ in range(args.per_client):
                servers.desk_case(own, next(numbers))

    def fides_client() -> None:
        with servers.fides_session() as own:
            for _ in range(args.per_client):
                n = next(numbers)
                servers.fides_requests(own, range(n, n + 1))

    desk_rates, fides_rates = [], []
    for _ in range(3):
        desk_rates.append(_concurrently(desk_client, args.clients, args.per_client))
        fides_rates.append(_concurrently(fides_client, args.clients, args.per_client))
    rows.append((f"intake, {args.clients} clients at once (req/s)", statistics.median(desk_rates),
                 statistics.median(fides_rates)))

    # Each server holds this many already: the warm-up and both intake measures.
    made = 10 + args.rounds * args.per_round + 3 * args.clients * args.per_client
    for size in args.list_sizes:
        print(f"Lists: filling both to {size:,}", flush=True)
        while made < size:
            batch = range(made, min(size, made + 50))
            servers.fides_requests(fides, batch)
            for n in batch:
                servers.desk_case(desk, 10**8 + n)
            made = batch[-1] + 1
        # Signed in again: filling can outlast the session's idle limit (SESSION_IDLE_MINUTES).
        servers.officer_cookie = servers.sign_in()
        api, admin, search = [], [], []
        for _ in range(3):  # interleaved
            api.append(_median_ms(lambda: servers.desk_api_page(desk)))
            admin.append(_median_ms(lambda: servers.desk_admin_page(desk)))
            search.append(_median_ms(lambda: servers.fides_page(fides)))
        fides_ms = statistics.median(search)
        rows.append((f"API list, {PAGE} of {made:,} (ms)", statistics.median(api), fides_ms))
        rows.append((f"admin case list, {PAGE} of {made:,} (ms)", statistics.median(admin),
                     fides_ms))
    return rows


def report(rows: list[tuple[str, float, float]]) -> None:
    print("| measure (req/s: more is better; ms: less is) | Privacy Desk | Fides | ratio |")
    print("| --- | --- | --- | --- |")
    for name, desk, fides in rows:
        print(f"| {name} | {desk:.1f} | {fides:.1f} | {desk / fides:.2f}× |")


class _Gunicorn:
    web_concurrency, threads = 1, 4


def run(args: argparse.Namespace) -> int:
    with TemporaryDirectory() as tmp, scratch_database(args.admin_url) as database:
        folder, web_port = Path(tmp), _free_port()
        env = _environment(_with_database(args.admin_url, database), _free_port(), folder,
                           _Gunicorn)
        env["REQUIRE_2FA"] = "false"  # the officer signs in with a password only
        env["STATIC_ROOT"] = str(folder / "static")
        _manage(env, "migrate", "--noinput")
        _manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        key = _manage(env, "create_api_client", "Versus", "--scopes", "cases:read",
                      "cases:write").strip().splitlines()[-1]
        _manage(env, "shell", "-c", (
            "from django.contrib.auth.models import Group, User; "
            f"u = User.objects.create_user({OFFICER!r}, password={OFFICER_PASSWORD!r}, "
            "is_staff=True); u.groups.add(Group.objects.get(name='Compliance officer'))"
        ))
        web = _spawn(env, [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi",
                           "--bind", f"127.0.0.1:{web_port}"], folder / "gunicorn.log")
        try:
            desk = f"http://127.0.0.1:{web_port}"
            _wait_for(f"{desk}/healthz", [web])
            rows = measure(args, Servers(args, desk, key, args.fides_url.rstrip("/")))
        finally:
            _stop(web)
    report(rows)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(_parse(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
