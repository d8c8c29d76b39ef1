"""One status-sync pass over 400 Adobe jobs (200 cases, access and delete) against the vendor
sandbox, beside a bare `requests` loop making the same calls: the same token request, list pages
and job reads, replayed from the sandbox's own log of the pass, with nothing else around them.

The jobs are sent first (not timed), then the sandbox moves every one to its end, so the pass
finds each changed; the Adobe token is dropped so the pass fetches one, as the loop does. Rounds
interleave a pass and its loop, each on fresh cases and a fresh sandbox, and the medians are
compared: one round on a busy two-core machine can be 15 % off either way.
"""

import gc
import statistics
import time

import requests
from django.core.cache import cache

from bench.sandbox import ADOBE_ONLY, PRODUCTS, counters, sandbox
from bench.sql import counting
from bench.table import Row
from cases import services, tasks
from cases.audit import Actor
from cases.choices import JobStatus
from cases.models import Case, VendorJob
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


def run(cases: int = 200, runs: int = 5) -> list[Row]:
    """`runs` interleaved rounds (a pass, then the loop replaying its calls), each on fresh
    cases and a fresh sandbox; the figures are the rounds' medians."""
    if VendorJob.objects.exclude(vendor_job_id="").exists():
        raise SystemExit("The sync benchmark needs a database without sent jobs.")
    rounds = [_round(cases, f"SYNC{n}") for n in range(runs)]
    passes, loops, sql = (statistics.median(r[i] for r in rounds) for i in range(3))
    calls = rounds[0][3]
    print(f"sync pass: median {passes:.3f} s of {', '.join(f'{r[0]:.3f}' for r in rounds)}; "
          f"bare loop: median {loops:.3f} s of {', '.join(f'{r[1]:.3f}' for r in rounds)}")
    return [Row(f"sync pass over {2 * cases} Adobe jobs ({cases} cases), median of {runs}",
                f"bare loop, same {calls} calls", loops, passes, "s",
                f"{sql:.1f} SQL per job")]


def _round(cases: int, prefix: str) -> tuple[float, float, float, int]:
    """One round: (pass seconds, loop seconds, SQL per job, HTTP calls); its cases deleted after."""
    with sandbox() as server:
        open_cases(cases, prefix)
        tasks.send_pending_jobs()
        jobs = VendorJob.objects.filter(case__external_ref__startswith=f"{prefix}-")
        sent = jobs.filter(status__in=[JobStatus.SUBMITTED, JobStatus.PROCESSING]).count()
        if sent != 2 * cases:
            raise SystemExit(f"Only {sent} of {2 * cases} jobs were sent; see the worker log.")
        server.control("POST", "advance", {"steps": 20})
        cache.clear()  # the pass fetches its token, as the bare loop does
        server.state.recorder.clear()
        # Both timings start from a collected heap with the setup's objects frozen: otherwise
        # a full collection of everything the benchmark built (~40 ms) lands in some rounds
        # and not others. The collector stays on for what the pass and the loop create.
        gc.collect()
        gc.freeze()
        try:
            started = time.perf_counter()
            with counting() as counted:
                tasks.sync_vendor_jobs()
            seconds = time.perf_counter() - started
            calls = server.state.recorder.requests()
            http_calls = sum(counters(server).values())
            gc.collect()
            loop = bare_loop(server, calls)
        finally:
            gc.unfreeze()
    done = jobs.filter(status=JobStatus.COMPLETE).count()
    print(f"{prefix}: pass over {sent} jobs, {http_calls} HTTP calls, {seconds:.3f} s, "
          f"{counted.statements / sent:.1f} SQL per job, {done} complete after it; "
          f"bare loop, the same {len(calls)} calls: {loop:.3f} s")
    # The next round's pass must find only its own jobs and results (the download tasks this
    # pass queued are never run here).
    Case.objects.filter(external_ref__startswith=f"{prefix}-").delete()
    return seconds, loop, counted.statements / sent, len(calls)


def main(args) -> list[Row]:
    return run(args.cases or 200, args.runs)
