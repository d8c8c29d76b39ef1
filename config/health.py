"""Probes and metrics for operators: /healthz (alive), /readyz (able to serve) and /metrics.

/readyz names each check with its outcome, so a failing probe says what to look at. A check
that raises counts as failed, with the exception's class (never its text: it may hold a DSN).
"""

import hmac
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Max
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

Check = dict[str, Any]
_migrations_applied = False  # once true, stays true until the code (and process) changes


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers: no database or cache call, so a slow database cannot restart it."""
    return JsonResponse({"status": "ok"})


def check_database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def check_cache() -> Check:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=30)
    ok = cache.get(key) == "1"
    cache.delete(key)
    return {"ok": ok}


def check_migrations() -> Check:
    global _migrations_applied
    if _migrations_applied:
        return {"ok": True, "unapplied": 0}
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    _migrations_applied = not plan
    return {"ok": not plan, "unapplied": len(plan)}


def check_worker() -> Check:
    """Some worker finished a task lately. Task results live in the database, so this sees the
    workers of every node; the every-minute vendor sync keeps an idle cluster beating."""
    from django_q.models import Task

    last = Task.objects.aggregate(last=Max("stopped"))["last"]
    limit = settings.READYZ_WORKER_MAX_AGE
    if last is None:
        return {"ok": False, "age_seconds": None, "max_age_seconds": limit}
    age = round((timezone.now() - last).total_seconds())
    return {"ok": age <= limit, "age_seconds": age, "max_age_seconds": limit}


def check_queue() -> Check:
    from django_q.brokers import get_broker

    queued = get_broker().queue_size() or 0
    limit = settings.READYZ_MAX_BACKLOG
    return {"ok": queued <= limit, "queued": queued, "max_queued": limit}


CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "cache": check_cache,
    "migrations": check_migrations,
    "worker": check_worker,
    "queue": check_queue,
}


def _run(check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as exc:  # a probe reports; it must not turn a failure into a 500
        return {"ok": False, "error": type(exc).__name__}


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    results = {name: _run(check) for name, check in CHECKS.items()}
    failing = [name for name, result in results.items() if not result["ok"]]
    body = {"status": "fail" if failing else "ok", "failing": failing, "checks": results}
    return JsonResponse(body, status=503 if failing else 200)


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, only with `Authorization: Bearer <METRICS_TOKEN>`."""
    expected = settings.METRICS_TOKEN
    if not expected:
        raise Http404("Metrics are off: METRICS_TOKEN is not set.")
    if not hmac.compare_digest(_bearer_token(request).encode(), expected.encode()):
        response = JsonResponse({"detail": "A valid bearer token is required."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from cases.monitoring import REGISTRY

    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
