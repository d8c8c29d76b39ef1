import pytest
from rest_framework.test import APIClient

OPERATIONS = {
    ("/api/v1/cases/", "get"),
    ("/api/v1/cases/", "post"),
    ("/api/v1/cases/{id}/", "get"),
    ("/api/v1/cases/{id}/submit/", "post"),
    ("/api/v1/cases/{id}/events/", "get"),
    ("/api/v1/cases/{id}/results/{result_id}/download/", "get"),
}


@pytest.fixture
def schema(db) -> dict:
    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_public_and_lists_every_operation(schema):
    found = {(path, method) for path, ops in schema["paths"].items() for method in ops}

    assert found == OPERATIONS


def test_every_operation_needs_the_api_key_and_documents_its_errors(schema):
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": schema["components"]["securitySchemes"]["ApiKeyAuth"]["description"],
    }
    for path, method in OPERATIONS:
        operation = schema["paths"][path][method]
        assert operation["security"] == [{"ApiKeyAuth": []}]
        assert {"401", "403", "429"} <= set(operation["responses"]), (path, method)


def test_intake_documents_idempotency_and_its_outcomes(schema):
    operation = schema["paths"]["/api/v1/cases/"]["post"]

    assert {"200", "201", "400", "409"} <= set(operation["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header"
               for p in operation["parameters"])
    fields = schema["components"]["schemas"]["CaseCreateRequest"]["properties"]
    assert {"external_ref", "regulation", "actions", "received_at", "subject", "identities",
            "vendors", "adobe_products", "submit"} <= set(fields)


def test_the_case_schema_has_the_contract_fields(schema):
    fields = schema["components"]["schemas"]["Case"]["properties"]

    assert {"id", "reference", "external_ref", "status", "regulation", "actions",
            "received_at", "due_at", "days_left", "vendor_jobs", "results"} <= set(fields)
    assert fields["due_at"]["format"] == "date"


def test_the_docs_page_serves_its_assets_locally(db):
    response = APIClient().get("/api/v1/docs/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in page
