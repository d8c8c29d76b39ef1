"""A burst of 300 cases from 10 API clients at once, each `submit: true` for Adobe: how many Adobe
create calls (POST /jobs) carry them, counted at the sandbox, against the floor of one call
(Adobe takes 1 000 users a request). Before it, one lone case: seconds until it is sent.

The cases come in through the API (10 threads, in this process); the sending is done by a real
worker (`manage.py qcluster`, started here on the same scratch database), as in production.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from django.db import connection
from django.test import Client

from bench.sandbox import ADOBE_ONLY, PRODUCTS, counters, sandbox
from bench.table import Row
from cases.api import clients
from cases.audit import Actor
from cases.choices import ApiScope, JobStatus
from cases.models import ApiClient, VendorJob
from connectors.sandbox import SandboxServer

THREADS = 10
ROOT = Path(__file__).resolve().parent.parent
WAIT = 120  # seconds to wait for the worker to send everything


def body(ref: str) -> dict:
    return {"external_ref": ref, "regulation": "gdpr", "actions": ["access", "delete"],
            "subject": {"email": "subject@example.org"}, "vendors": ADOBE_ONLY,
            "adobe_products": PRODUCTS, "submit": True,
            "identities": [{"namespace": "ecid", "value": ref.replace("-", "").ljust(28, "0")}]}


def _post_all(key: str, refs: list[str], errors: list[str]) -> None:
    http = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Api-Key {key}")
    try:
        for ref in refs:
            response = http.post("/api/v1/cases/", body(ref), content_type="application/json")
            if response.status_code != 201:
                errors.append(f"{ref}: {response.status_code} {response.content[:200]!r}")
    finally:
        connection.close()  # this thread's own connection


def burst(n: int) -> float:
    """Seconds for `n` intake calls from THREADS threads at once."""
    keys = []
    for i in range(THREADS):
        client = ApiClient(name=f"bench burst {i}", scopes=[ApiScope.CASES_WRITE])
        keys.append(clients.create_client(client, actor=Actor.system("bench")).key)
    errors: list[str] = []
    threads = [threading.Thread(target=_post_all, args=(
        keys[t], [f"BURST-{i}" for i in range(t, n, THREADS)], errors)) for t in range(THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"{len(errors)} intake calls failed, e.g. {errors[0]}")
    return time.perf_counter() - started


def _worker(server: SandboxServer, folder: str) -> subprocess.Popen:
    env = {**os.environ, **server.env(), "DEBUG": "true", "Q_WORKERS": "2",
           "DATABASE_URL": os.environ["DATABASE_URL"], "CACHE_URL": f"filecache://{folder}",
           "RESULT_DOWNLOAD_HOSTS": server.env()["RESULT_DOWNLOAD_HOSTS"], "LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_sent(prefix: str, jobs: int) -> float | None:
    """Seconds until `jobs` jobs of the cases whose ticket starts with `prefix` are sent."""
    started = time.perf_counter()
    sent_statuses = [JobStatus.SUBMITTED, JobStatus.PROCESSING, JobStatus.COMPLETE]
    while time.perf_counter() - started < WAIT:
        sent = VendorJob.objects.filter(case__external_ref__startswith=prefix,
                                        status__in=sent_statuses).count()
        if sent >= jobs:
            return time.perf_counter() - started
        time.sleep(0.1)
    return None


def run(n: int = 300) -> list[Row]:
    with sandbox() as server, tempfile.TemporaryDirectory() as folder:
        worker = _worker(server, folder)
        try:
            key = clients.create_client(ApiClient(name="bench lone", scopes=[
                ApiScope.CASES_WRITE]), actor=Actor.system("bench")).key
            _post_all(key, ["WARMUP-1"], [])  # the worker is up once this case is sent
            if _wait_sent("WARMUP-", 2) is None:
                raise SystemExit(f"The worker sent nothing within {WAIT} s.")
            started = time.perf_counter()
            _post_all(key, ["LONE-1"], [])
            lone = _wait_sent("LONE-", 2)
            lone = None if lone is None else time.perf_counter() - started
            server.state.recorder.clear()
            seconds = burst(n)
            waited = _wait_sent("BURST-", 2 * n)
            creates = counters(server).get("adobe_privacy.create_jobs", 0)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    if waited is None:
        raise SystemExit(f"The worker had not sent the burst after {WAIT} s.")
    users = n / creates if creates else 0
    print(f"burst: {n} cases from {THREADS} clients in {seconds:.1f} s; every job sent "
          f"{waited:.1f} s later in {creates} Adobe create calls ({users:.0f} users a call)")
    print("lone case: " + (f"sent {lone:.1f} s after its intake call" if lone is not None
                           else f"not sent within {WAIT} s"))
    lone_note = f"lone case sent in {lone:.1f} s" if lone is not None else "lone case not sent"
    return [Row(f"Adobe create calls, burst of {n} cases from {THREADS} clients",
                "floor (1 000 users a call)", 1, creates, "calls",
                f"{users:.0f} users a call; {lone_note}")]


def main(args) -> list[Row]:
    return run(args.cases or 300)
