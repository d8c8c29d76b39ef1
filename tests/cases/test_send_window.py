"""Adobe's send window: a burst of cases fills few 1000-user requests; a lone case is not held."""

import datetime as dt
import os
import subprocess
import sys

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from cases import services, tasks
from cases.api.clients import create_client
from cases.audit import Actor
from cases.choices import JobStatus
from cases.models import ApiClient, VendorJob

WINDOW = 3.0
ACTIONS = [("access", "delete"), ("access",), ("delete",)]


@pytest.fixture(autouse=True)
def window(settings):
    settings.ADOBE_SEND_WINDOW_SECONDS = WINDOW


def creates(sandbox) -> int:
    return sandbox.count("adobe_privacy", "create_jobs")


def run_due_schedules() -> int:
    """What django-q2's scheduler does with a due one-off schedule: run it, then delete it."""
    due = list(Schedule.objects.filter(name=services.SEND_WINDOW_SCHEDULE,
                                       next_run__lte=timezone.now()))
    for schedule in due:
        schedule.delete()
        import_string(schedule.func)()
    return len(due)


def submit_one(make_case, n: int, client: ApiClient | None = None, actions=("access", "delete")):
    actor = Actor.for_client(client) if client else Actor.system("tests")
    case = make_case(identities=[{"namespace": "email", "value": f"p{n}@example.org"}],
                     vendors=["adobe_privacy"], actions=list(actions), api_client=client,
                     external_ref=f"T-{n}" if client else "", actor=actor)
    services.vouch_and_submit(case, actor=actor)
    # The worker runs the send task each submission queues (an idle worker: at once).
    tasks.send_pending_jobs()
    return case


def test_a_burst_of_300_cases_from_10_clients_goes_in_at_most_3_requests(
    make_case, vendor_sandbox
):
    clients = []
    for n in range(10):
        client = ApiClient(name=f"Ticketing {n}", scopes=["cases:write"])
        create_client(client, actor=Actor.system("tests"))
        clients.append(client)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for n in range(300):  # 300 cases in 3 seconds, 30 from each client
            clock.shift(0.01)
            submit_one(make_case, n, clients[n % 10], ACTIONS[n % 3])
            run_due_schedules()
        clock.shift(WINDOW)
        run_due_schedules()
    assert VendorJob.objects.exclude(status=JobStatus.SUBMITTED).count() == 0
    assert VendorJob.objects.count() >= 300
    assert creates(vendor_sandbox) <= 3


def test_a_lone_case_goes_out_at_once(make_case, vendor_sandbox):
    case = submit_one(make_case, 1)
    assert creates(vendor_sandbox) == 1
    assert set(case.jobs.values_list("status", flat=True)) == {JobStatus.SUBMITTED}
    assert not Schedule.objects.filter(name=services.SEND_WINDOW_SCHEDULE).exists()


def test_a_case_right_after_a_send_goes_out_when_its_window_ends(make_case, vendor_sandbox):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        submit_one(make_case, 1)
        clock.shift(1)
        waiting = submit_one(make_case, 2)
        assert creates(vendor_sandbox) == 1  # waits for others to share its request
        assert set(waiting.jobs.values_list("status", flat=True)) == {JobStatus.PENDING}
        schedule = Schedule.objects.get(name=services.SEND_WINDOW_SCHEDULE)
        assert schedule.func == "cases.tasks.send_pending_jobs"
        assert schedule.schedule_type == Schedule.ONCE
        assert schedule.next_run == start + dt.timedelta(seconds=1 + WINDOW)

        clock.shift(1.5)
        assert run_due_schedules() == 0
        tasks.send_pending_jobs()  # a pass within the window still waits
        assert creates(vendor_sandbox) == 1
        clock.shift(WINDOW - 1.5)
        assert run_due_schedules() == 1
    assert creates(vendor_sandbox) == 2
    assert set(waiting.jobs.values_list("status", flat=True)) == {JobStatus.SUBMITTED}
    assert not Schedule.objects.filter(name=services.SEND_WINDOW_SCHEDULE).exists()


def test_a_full_batch_goes_without_waiting(make_case, vendor_sandbox, monkeypatch):
    monkeypatch.setattr(tasks, "MAX_USERS_PER_REQUEST", 4)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        submit_one(make_case, 0)
        for n in range(1, 4):
            submit_one(make_case, n)
        assert creates(vendor_sandbox) == 1
        submit_one(make_case, 4)  # the fourth waiting user fills the request
    assert creates(vendor_sandbox) == 2
    assert not VendorJob.objects.exclude(status=JobStatus.SUBMITTED).exists()


def test_a_resend_does_not_wait_for_the_window(make_case, vendor_sandbox):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        submit_one(make_case, 1)
        clock.shift(0.5)
        case = submit_one(make_case, 2)
        # As a reconcile that found nothing leaves it: tried once, to be sent again now.
        case.jobs.update(attempts=1, next_attempt_at=timezone.now())
        tasks.send_pending_jobs()
    assert creates(vendor_sandbox) == 2


def test_the_window_must_be_a_sane_number_of_seconds():
    result = subprocess.run(  # noqa: S603 (our own settings module, fixed arguments)
        [sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']="
         "'config.settings'; django.setup()"],
        env={**os.environ, "ADOBE_SEND_WINDOW_SECONDS": "-1", "DEBUG": "true"},
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "ADOBE_SEND_WINDOW_SECONDS must be between 0 and 300" in result.stderr


def test_a_burst_longer_than_the_window_still_fills_one_request(make_case, vendor_sandbox):
    # 300 cases over 15 s (a busy intake): each comes well inside the window of the one before,
    # so they wait together until the burst is over, however long it is (up to the max wait).
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for n in range(300):
            clock.shift(0.05)
            submit_one(make_case, n, actions=ACTIONS[n % 3])
            run_due_schedules()
        assert creates(vendor_sandbox) == 1  # the first case, at once
        clock.shift(WINDOW)
        run_due_schedules()
    assert creates(vendor_sandbox) == 2
    assert not VendorJob.objects.exclude(status=JobStatus.SUBMITTED).exists()


def test_a_burst_that_goes_on_is_sent_every_max_wait(make_case, vendor_sandbox, settings):
    settings.ADOBE_SEND_MAX_WAIT_SECONDS = 30.0
    start = timezone.now()
    waited = []
    with time_machine.travel(start, tick=False) as clock:
        for n in range(45):  # one case a second for 45 s: never a quiet spell
            clock.shift(1)
            submit_one(make_case, n)
            run_due_schedules()
        clock.shift(WINDOW)
        run_due_schedules()
        for job in VendorJob.objects.all():
            waited.append((job.sending_started_at - job.created_at).total_seconds())
    assert creates(vendor_sandbox) == 3  # the first at once, the first 30 s, the rest
    assert max(waited) <= 30 + 1


def test_the_sending_worker_waits_out_the_window_instead_of_the_scheduler(
    make_case, vendor_sandbox, settings, monkeypatch
):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}  # a real worker may wait
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        slept = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            clock.shift(seconds)

        monkeypatch.setattr(tasks.time, "sleep", sleep)
        submit_one(make_case, 1)
        clock.shift(1)
        waiting = submit_one(make_case, 2)  # its send task, as the test queue runs it: no wait
        assert creates(vendor_sandbox) == 1
        cache.add(tasks.SEND_WAITER_KEY, "waiting")  # another worker is already waiting
        assert "another worker waits to send" in tasks.send_when_due()
        assert creates(vendor_sandbox) == 1 and not slept
        cache.delete(tasks.SEND_WAITER_KEY)
        tasks.send_when_due()  # this one waits until 3 s after case 2 came: now + 3 s
    assert slept == [pytest.approx(WINDOW)]
    assert creates(vendor_sandbox) == 2
    assert set(waiting.jobs.values_list("status", flat=True)) == {JobStatus.SUBMITTED}
    assert cache.get(tasks.SEND_WAITER_KEY) is None


def test_the_max_wait_must_not_be_shorter_than_the_window():
    result = subprocess.run(  # noqa: S603 (our own settings module, fixed arguments)
        [sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']="
         "'config.settings'; django.setup()"],
        env={**os.environ, "ADOBE_SEND_MAX_WAIT_SECONDS": "2", "DEBUG": "true"},
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "ADOBE_SEND_MAX_WAIT_SECONDS must be between" in result.stderr
