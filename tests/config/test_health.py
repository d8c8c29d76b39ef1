"""/healthz answers without the database; /readyz names each check and fails with 503."""

import datetime as dt
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Task

from config import health

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_migration_check(monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)


@pytest.fixture
def worker_beat():
    """A task a worker finished just now, as the every-minute vendor sync leaves behind."""
    now = timezone.now()
    return Task.objects.create(
        id="a" * 32, name="beat", func="cases.tasks.sync_vendor_jobs",
        started=now - dt.timedelta(seconds=1), stopped=now, success=True,
    )


def test_healthz_is_ok_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ok_when_every_check_passes(client, worker_beat):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "cache", "migrations", "worker", "queue"}
    assert body["checks"]["worker"]["age_seconds"] <= 1
    assert body["checks"]["queue"]["queued"] == 0


def _failing(client) -> tuple[list[str], dict]:
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    return body["failing"], body["checks"]


def test_readyz_names_an_unreachable_database(client, worker_beat):
    def refuse(*args, **kwargs):
        raise OperationalError("connection to server at 10.0.0.5 failed")

    with mock.patch.object(health.connection, "cursor", refuse):
        failing, checks = _failing(client)
    assert "database" in failing
    # The class only: the driver's text can name hosts and users.
    assert checks["database"] == {"ok": False, "error": "OperationalError"}


def test_readyz_names_a_cache_that_keeps_nothing(client, worker_beat, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    failing, _ = _failing(client)
    assert failing == ["cache"]


def test_readyz_names_unapplied_migrations(client, worker_beat):
    with mock.patch.object(
        health.MigrationExecutor, "migration_plan", return_value=[("cases", "0099_next")]
    ):
        failing, checks = _failing(client)
    assert failing == ["migrations"]
    assert checks["migrations"]["unapplied"] == 1


def test_readyz_names_a_worker_that_never_ran(client):
    failing, checks = _failing(client)
    assert failing == ["worker"]
    assert checks["worker"]["age_seconds"] is None


def test_readyz_names_a_worker_silent_for_too_long(client, worker_beat, settings):
    settings.READYZ_WORKER_MAX_AGE = 60
    Task.objects.filter(pk=worker_beat.pk).update(stopped=timezone.now() - dt.timedelta(minutes=5))
    failing, checks = _failing(client)
    assert failing == ["worker"]
    assert checks["worker"]["age_seconds"] >= 299 and checks["worker"]["max_age_seconds"] == 60


def test_readyz_names_a_queue_backlog(client, worker_beat, settings):
    settings.READYZ_MAX_BACKLOG = 2
    past = timezone.now() - dt.timedelta(seconds=1)
    for n in range(3):
        OrmQ.objects.create(key=Conf.PREFIX, payload=f"task-{n}", lock=past)
    failing, checks = _failing(client)
    assert failing == ["queue"]
    assert checks["queue"] == {"ok": False, "queued": 3, "max_queued": 2}


def test_probes_refuse_writes(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


def test_probes_answer_plain_http_while_the_rest_redirects_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.METRICS_TOKEN = "t"
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)
    # The bearer token must not travel in clear: /metrics is not exempt.
    assert client.get("/metrics", headers={"Authorization": "Bearer t"}).status_code == 301
