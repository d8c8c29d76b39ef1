"""One status-sync pass over 400 Adobe jobs (200 cases, access and delete) against the vendor
sandbox, beside a bare `requests` loop making the same calls: the same token request, list pages
and job reads, replayed from the sandbox's own log of the pass, with nothing else around them.

The jobs are sent first (not timed), then the sandbox moves every one to its end, so the pass
finds each changed; the Adobe token is dropped so the pass fetches one, as the loop does.
"""

import time

import requests
from django.core.cache import cache

from bench.sandbox import ADOBE_ONLY, PRODUCTS, counters, sandbox
from bench.sql import counting
from bench.table import Row
from cases import services, tasks
from cases.audit import Actor
from cases.choices import JobStatus
from cases.models import VendorJob
from connectors.sandbox import SandboxServer

ACTOR = Actor.system("bench")
IDENTITY = {"namespace": "ecid", "type": "standard"}


def open_cases(n: int, prefix: str) -> None:
    """`n` verified cases for Adobe (access and delete), submitted: their jobs wait to be sent."""
    for i in range(n):
        case = services.create_case(
            actor=ACTOR, regulation="gdpr", actions=["access", "delete"],
            subject_email=f"subject{i}@example.org", external_ref=f"{prefix}-{i}",
            identities=[{**IDENTITY, "value": f"{prefix}{i:028d}"}], vendors=ADOBE_ONLY,
            adobe_products=PRODUCTS,
        )
        services.vouch_and_submit(case, actor=ACTOR)


def bare_loop(server: SandboxServer, calls: list[dict]) -> float:
    """Seconds for `requests` to make `calls` (the sandbox's log entries) one after the other."""
    env = server.env()
    started = time.perf_counter()
    with requests.Session() as http:
        token = ""
        for call in calls:
            url = server.url + call["path"]
            if call["operation"] == "token":
                token = http.post(url, timeout=30, data={
                    "grant_type": "client_credentials", "client_id": env["ADOBE_CLIENT_ID"],
                    "client_secret": env["ADOBE_CLIENT_SECRET"], "scope": env["ADOBE_SCOPES"],
                }).json()["access_token"]
                continue
            response = http.request(call["method"], url, timeout=30, headers={
                "Authorization": f"Bearer {token}", "x-api-key": env["ADOBE_CLIENT_ID"],
                "x-gw-ims-org-id": env["ADOBE_ORG_ID"]})
            if response.status_code != call["status"]:
                raise SystemExit(f"{call['path']} answered {response.status_code} to the loop, "
                                 f"{call['status']} to the pass")
            response.json()
    return time.perf_counter() - started


def run(cases: int = 200) -> list[Row]:
    if VendorJob.objects.exclude(vendor_job_id="").exists():
        raise SystemExit("The sync benchmark needs a database without sent jobs.")
    with sandbox() as server:
        open_cases(cases, "SYNC")
        tasks.send_pending_jobs()
        jobs = VendorJob.objects.filter(case__external_ref__startswith="SYNC-")
        sent = jobs.filter(status__in=[JobStatus.SUBMITTED, JobStatus.PROCESSING]).count()
        if sent != 2 * cases:
            raise SystemExit(f"Only {sent} of {2 * cases} jobs were sent; see the worker log.")
        server.control("POST", "advance", {"steps": 20})
        cache.clear()  # the pass fetches its token, as the bare loop does
        server.state.recorder.clear()
        started = time.perf_counter()
        with counting() as counted:
            tasks.sync_vendor_jobs()
        seconds = time.perf_counter() - started
        calls = server.state.recorder.requests()
        http_calls = sum(counters(server).values())
        loop = bare_loop(server, calls)
    sql = counted.statements / sent
    done = jobs.filter(status=JobStatus.COMPLETE).count()
    print(f"sync pass: {sent} jobs, {http_calls} HTTP calls, {seconds:.2f} s, "
          f"{sql:.1f} SQL per job, {done} complete after it")
    print(f"bare requests loop: the same {len(calls)} calls in {loop:.2f} s")
    return [Row(f"sync pass over {sent} Adobe jobs ({cases} cases)",
                f"bare loop, same {len(calls)} calls", loop, seconds, "s",
                f"{sql:.1f} SQL per job")]


def main(args) -> list[Row]:
    return run(args.cases or 200)
