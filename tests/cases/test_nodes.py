"""Several nodes: two real `manage.py qcluster` processes share one PostgreSQL database (and a
Redis broker), one of them is killed with SIGKILL in mid-send, and still every case settles and
no vendor job is sent twice (README, "Nothing lost, nothing sent twice").

The clusters are subprocesses on the test database, so the test commits (transactional test) and
queues real tasks instead of running them inline. Sends are kept in flight by a sandbox `slow`
fault when the first cluster's whole process group is killed. PostgreSQL only: SQLite serialises
writers and is not a multi-node database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf
from django_q.tasks import async_task

from cases import services
from cases.audit import Actor
from cases.choices import CaseStatus, JobStatus
from cases.models import Case, VendorJob

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ACTOR = Actor.system("tests")
SLOW = 1.0  # seconds each vendor create call is held in flight before the kill
SETTLE_WITHIN = 150  # seconds, so the whole test stays under 3 minutes
UNSETTLED = (JobStatus.PENDING, JobStatus.SENDING, JobStatus.SUBMITTED, JobStatus.PROCESSING)


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...): workers share one database")


@pytest.fixture(autouse=True)
def _queued_not_inline(monkeypatch, settings, tmp_path) -> None:
    """Tasks go through the broker to the clusters, as in production (tests run them inline)."""
    monkeypatch.setattr(Conf, "SYNC", False)
    settings.ID5_ACCESS_REQUESTS = "not_applicable"  # access cases can then complete on their own
    settings.MEDIA_ROOT = tmp_path / "media"


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Clusters:
    """`manage.py qcluster` subprocesses, each in its own process group (so one SIGKILL takes
    its sentinel, pusher, monitor and workers at once, as a node dying would)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.procs = env, logs, []

    def start(self, name: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(  # noqa: S603 (our own manage.py, fixed arguments)
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):  # the group may outlive its leader
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.logs.glob("*.log")))


@pytest.fixture
def clusters(transactional_db, vendor_sandbox, tmp_path) -> Iterator[Callable[..., Clusters]]:
    made: list[Clusters] = []

    def make(**env: str) -> Clusters:
        logs = tmp_path / "logs"
        logs.mkdir(exist_ok=True)
        full = {**os.environ, **vendor_sandbox.env(), "DEBUG": "true", "LOG_LEVEL": "WARNING",
                "DATABASE_URL": database_url(), "Q_WORKERS": "2", "VENDOR_READ_TIMEOUT": "10",
                "RECONCILE_GRACE_SECONDS": "0", "ID5_ACCESS_REQUESTS": "not_applicable",
                "ADOBE_DEFAULT_PRODUCTS": "analytics,profileService",
                "CACHE_URL": f"filecache://{tmp_path / 'cache'}",
                "MEDIA_ROOT": str(django_settings.MEDIA_ROOT), **env}
        made.append(Clusters(full, logs))
        return made[-1]

    yield make
    for group in made:  # before the database is flushed: the clusters hold connections to it
        group.stop_all()


def open_cases(n: int, tag: str) -> list[int]:
    """n verified access+delete cases for Adobe and ID5, each with its own identifiers, then
    submitted (each submit queues a send pass for the clusters)."""
    ids = []
    for i in range(n):
        case = services.create_case(
            actor=ACTOR, regulation="gdpr", actions=["access", "delete"],
            subject_name=f"Subject {tag}{i}", subject_email=f"s{tag}{i}@example.org",
            identities=[{"namespace": "email", "value": f"s{tag}{i}@example.org"},
                        {"namespace": "partnerUid", "value": f"crm-{tag}-{i}"}],
            received_at=timezone.now() - dt.timedelta(days=1),
            vendors=["adobe_privacy", "id5"])
        case = services.verify_identity(case, actor=ACTOR, method="ticketing_system")
        services.submit_case(case, actor=ACTOR)
        ids.append(case.pk)
    return ids


def wait_for(check: Callable[[], bool], timeout: float, what: str, groups: Clusters) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{groups.output()}")
        time.sleep(0.2)


def kill_in_mid_send(groups: Clusters, victim: subprocess.Popen, sandbox) -> list[int]:
    """SIGKILL the victim's process group while sends are in flight; return the jobs it left
    `sending` (claimed before the kill and still unanswered after every live send has ended)."""
    wait_for(lambda: VendorJob.objects.filter(status=JobStatus.SUBMITTED).count() >= 10
             and VendorJob.objects.filter(status=JobStatus.SENDING).exists(), 60,
             "sends in flight", groups)
    killed_at = timezone.now()
    groups.kill(victim)
    sandbox.clear_faults()
    time.sleep(SLOW + 3)  # the survivor's own in-flight sends answer within this
    orphans = list(VendorJob.objects.filter(status=JobStatus.SENDING,
                                            sending_started_at__lt=killed_at)
                   .values_list("pk", flat=True))
    # STALE_SENDING (the task timeout plus a margin) passes for the orphans: shown, not waited.
    VendorJob.objects.filter(pk__in=orphans).update(
        sending_started_at=timezone.now() - dt.timedelta(hours=1))
    return orphans


def settled() -> bool:
    return not VendorJob.objects.filter(status__in=UNSETTLED).exists() and not Case.objects.exclude(
        status__in=[CaseStatus.COMPLETED, CaseStatus.ACTION_REQUIRED]).exists()


def drive_until_settled(groups: Clusters) -> None:
    """Queue status passes, as the minute schedule would, and let ID5's next UTC day come: an
    orphaned ID5 send waits for its one resend until midnight (the sandbox's day stays put, so
    a first request that did arrive makes ID5 refuse the resend instead of taking a second)."""
    deadline = time.monotonic() + SETTLE_WITHIN
    while not settled():
        if time.monotonic() > deadline:
            left = Counter(VendorJob.objects.filter(status__in=UNSETTLED)
                           .values_list("vendor", "status"))
            pytest.fail(f"not settled in {SETTLE_WITHIN} s: {left}\n{groups.output()}")
        VendorJob.objects.filter(status=JobStatus.PENDING, unknown_send_at__isnull=False,
                                 next_attempt_at__gt=timezone.now()).update(
            next_attempt_at=timezone.now())
        async_task("cases.tasks.sync_vendor_jobs", task_name="test: sync pass")
        time.sleep(1.5)


def assert_nothing_sent_twice(sandbox, n_cases: int) -> None:
    with sandbox.state.lock:
        adobe = Counter((j.user_key, j.action) for j in sandbox.state.privacy_jobs.values())
        id5 = Counter(r.identifiers.get("partnerUid") for r in sandbox.state.id5_requests.values())
    assert [key for key, n in adobe.items() if n > 1] == []  # no Adobe user key twice
    assert [key for key, n in id5.items() if n > 1] == []  # no ID5 request twice per case
    assert (len(adobe), len(id5)) == (2 * n_cases, n_cases)  # and none lost


def assert_every_case_settled(case_ids: list[int]) -> None:
    cases = Case.objects.filter(pk__in=case_ids)
    assert cases.count() == len(case_ids)
    for case in cases.exclude(status=CaseStatus.COMPLETED):
        assert case.status == CaseStatus.ACTION_REQUIRED and case.status_reason, case.reference
    # Only an ID5 send the kill left unanswered may need an officer, with ID5's evidence.
    flagged = VendorJob.objects.filter(case__in=case_ids, status=JobStatus.MANUAL)
    assert all(job.vendor == "id5" and "refused the automatic resend" in job.last_error
               for job in flagged)
    assert not VendorJob.objects.filter(case__in=case_ids, status=JobStatus.ERROR).exists()


def run_two_nodes_with_a_kill(clusters, sandbox, n_cases: int, tag: str, **env: str) -> None:
    for vendor, operation in (("adobe_privacy", "create_jobs"), ("id5", "create_deletion")):
        sandbox.add_fault("slow", vendor=vendor, operation=operation, count=-1, delay=SLOW)
    groups = clusters(**env)
    first, _second = groups.start("node-a"), groups.start("node-b")
    started = time.monotonic()
    case_ids = open_cases(n_cases, tag)

    orphans = kill_in_mid_send(groups, first, sandbox)
    assert orphans, "the kill found no send in flight"
    drive_until_settled(groups)

    assert_every_case_settled(case_ids)
    assert_nothing_sent_twice(sandbox, n_cases)
    assert time.monotonic() - started < 170


def test_two_workers_and_a_kill_9_in_mid_send_lose_nothing_and_send_nothing_twice(
    clusters, vendor_sandbox
):
    run_two_nodes_with_a_kill(clusters, vendor_sandbox, 200, "o", Q_BROKER="orm")


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


@pytest.fixture
def redis_broker(monkeypatch) -> Iterator[str]:
    """django-q2's Redis broker on REDIS_URL, for this process and the clusters, its queue
    emptied before and after."""
    try:
        import redis
    except ImportError:
        pytest.fail("the redis package is missing: install the project (pip install -e .)")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("REQUIRE_REDIS"):
            pytest.fail(f"REQUIRE_REDIS is set but Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({exc}); start redis-server")
    queue = f"django_q:{Conf.CLUSTER_NAME}:q"
    client.delete(queue)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    yield REDIS_URL
    client.delete(queue)


def test_two_workers_and_a_kill_9_over_the_redis_broker(clusters, vendor_sandbox, redis_broker):
    run_two_nodes_with_a_kill(clusters, vendor_sandbox, 60, "r", Q_BROKER="redis",
                              REDIS_URL=redis_broker)
