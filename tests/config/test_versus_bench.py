"""The side-by-side run (bench/versus.py) works end to end, tiny, on PostgreSQL only.

Fides is not installed here, so a small stand-in on loopback answers the three Fides calls the
run makes (token, authenticated intake, search) and checks what it is sent; Privacy Desk runs for
real under gunicorn on a scratch database, its officer signing in to the admin list.
"""

import json
import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection

from tests.config.test_load_bench import _admin_url
from tests.config.test_settings import ROOT
from tests.json_handler import JsonHandler

pytestmark = pytest.mark.postgres
CLIENT_ID, SECRET, TOKEN = "versus-client", "versus-secret", "versus-token"


class FidesStandIn(JsonHandler):
    stored: list[dict] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if url.path == "/api/v1/oauth/token":
            form = parse_qs(body.decode())
            if form.get("client_id") == [CLIENT_ID] and form.get("client_secret") == [SECRET]:
                return self._json(200, {"access_token": TOKEN})
            return self._json(401, {"detail": "bad credentials"})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._json(401, {"detail": "no token"})
        if url.path == "/api/v1/privacy-request/authenticated":
            requests = json.loads(body)
            if not 1 <= len(requests) <= 50 or any("identity" not in r for r in requests):
                return self._json(422, {"detail": "bad batch"})
            with self.lock:
                self.stored.extend(requests)
            return self._json(200, {"succeeded": requests, "failed": []})
        if url.path == "/api/v1/privacy-request/search":
            size = int(parse_qs(url.query)["size"][0])
            with self.lock:
                return self._json(200, {"items": self.stored[:size], "total": len(self.stored)})
        return self._json(404, {"detail": "no such path"})


def test_versus_run_measures_both_servers_and_prints_the_table():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    server = ThreadingHTTPServer(("127.0.0.1", 0), FidesStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env |= {"FIDES_CLIENT_ID": CLIENT_ID, "FIDES_CLIENT_SECRET": SECRET}
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bench.versus", "--fides-url",
             f"http://127.0.0.1:{server.server_port}", "--rounds", "1", "--per-round", "2",
             "--clients", "2", "--per-client", "1", "--list-sizes", "60",
             "--admin-url", _admin_url()],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=400, check=False,
        )
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr + done.stdout
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in table[2:]] == [
        "| intake, one call at a time (req/s)", "| intake, 2 clients at once (req/s)",
        "| API list, 50 of 60 (ms)", "| admin case list, 50 of 60 (ms)",
    ], done.stdout
    # Fides got as many requests as Privacy Desk got cases: the warm-up, both intake measures
    # and the fill to 60, each with the access policy.
    assert len(FidesStandIn.stored) == 60
    assert {r["policy_key"] for r in FidesStandIn.stored} == {"default_access_policy"}


def test_versus_run_refuses_missing_credentials_and_bad_sizes():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SETTINGS_MODULE", "FIDES_CLIENT_ID", "FIDES_CLIENT_SECRET")}
    cases = [
        ([], env, "FIDES_CLIENT_ID"),
        (["--list-sizes", "10"], {**env, "FIDES_CLIENT_ID": "a", "FIDES_CLIENT_SECRET": "b"},
         "must be"),
        (["--clients", "0"], {**env, "FIDES_CLIENT_ID": "a", "FIDES_CLIENT_SECRET": "b"},
         "must be"),
    ]
    for args, environment, says in cases:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "bench.versus", "--fides-url", "http://127.0.0.1:9", *args],
            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=False,
        )
        assert done.returncode == 2, done.stderr
        assert says in done.stderr
