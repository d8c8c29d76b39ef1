"""Property-based tests of the API against its own OpenAPI schema (schemathesis, in-process).

Each operation gets generated requests, valid (positive) and invalid (negative), sent with a
valid key through the WSGI app: no answer may be a 5xx, and every answer must match the
documented status codes, content types and bodies. Examples are bounded and derandomised, so
the run is quick and repeatable on SQLite and PostgreSQL alike.

(schemathesis' own pytest plugin is not used: its lazy loader does not work with pytest 9.2.)
"""

import hashlib
from dataclasses import dataclass

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis import checks as builtin_checks
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi import checks as openapi_checks

from cases import services
from cases.choices import JobStatus
from cases.models import VendorJob
from config.wsgi import application
from tests.api.conftest import case_body

SCHEMA_URL = "/api/v1/schema/?format=json"
OPERATIONS = [
    ("GET", "/api/v1/cases/"),
    ("POST", "/api/v1/cases/"),
    ("GET", "/api/v1/cases/{id}/"),
    ("POST", "/api/v1/cases/{id}/submit/"),
    ("GET", "/api/v1/cases/{id}/events/"),
    ("GET", "/api/v1/cases/{id}/results/{result_id}/download/"),
]
CHECKS = [
    builtin_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]
MAX_EXAMPLES = 25
INTAKE = ("POST", "/api/v1/cases/")


@pytest.fixture
def wsgi_app():
    """The real WSGI app, minus the per-request connection cleanup that would close the test
    transaction's connection (Django's own test client disconnects it the same way)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield application
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(db, wsgi_app):
    return schemathesis.openapi.from_wsgi(SCHEMA_URL, wsgi_app)


@dataclass(frozen=True)
class Seeded:
    headers: dict[str, str]
    case_id: int
    result_id: int


@pytest.fixture
def seeded(make_client, make_case, settings, tmp_path) -> Seeded:
    """A client with one case holding one result file: something to find, submit, download."""
    settings.MEDIA_ROOT = tmp_path
    client, key = make_client("Schemathesis")
    case = make_case(api_client=client, external_ref="TICKET-1")
    job = VendorJob.objects.create(case=case, vendor="adobe_privacy", action="access",
                                   status=JobStatus.COMPLETE, result_status="pending")
    content = b"PK\x05\x06" + b"\x00" * 18
    (tmp_path / "in.zip").write_bytes(content)
    result = services.attach_result(job, tmp_path / "in.zip", name="r.zip", size=len(content),
                                    sha256=hashlib.sha256(content).hexdigest(), entries=[])
    return Seeded({"Authorization": f"Api-Key {key}"}, case.pk, result.pk)


def _run(strategy, headers: dict[str, str]) -> None:
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


def test_the_operations_here_are_all_the_schema_has(api_schema):
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}

    assert found == set(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_the_api_honours_its_schema(api_schema, seeded, method, path, mode):
    strategy = api_schema[path][method].as_strategy(generation_mode=mode, headers=seeded.headers)

    _run(strategy, seeded.headers)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_the_api_honours_its_schema_on_existing_data(api_schema, seeded, method, path):
    # Random ids rarely exist and random bodies rarely pass the intake rules: pin them to real
    # ones so the success answers (200, 201, the file) are checked against the schema too.
    strategy = api_schema[path][method].as_strategy(
        headers=seeded.headers,
        path_parameters={"id": seeded.case_id, "result_id": seeded.result_id},
        body=case_body(external_ref="TICKET-2") if (method, path) == INTAKE else NOT_SET,
    )

    _run(strategy, seeded.headers)
