from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cases.models import ApiClient, AuditEvent
from tests.api.conftest import http_for


def _run(*args: str) -> list[str]:
    out = StringIO()
    call_command("create_api_client", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_the_key_is_the_last_line_and_works(db):
    lines = _run("Ticketing")

    key = lines[-1]
    assert key.startswith("pdk_")
    client = ApiClient.objects.get(name="Ticketing")
    assert client.scopes == ["cases:read", "cases:write", "results:read"]
    assert http_for(key).get("/api/v1/cases/").status_code == 200
    event = AuditEvent.objects.get(action="api_client.created")
    assert event.object_id == str(client.pk)
    assert key not in str(event.details)


def test_scopes_and_webhook_url_are_taken(db):
    lines = _run("Reader", "--scopes", "cases:read", "--webhook-url", "https://t.example/h")

    client = ApiClient.objects.get(name="Reader")
    assert client.scopes == ["cases:read"]
    assert client.webhook_url == "https://t.example/h"
    assert client.webhook_secret in lines  # shown once, before the key
    assert lines[-1].startswith("pdk_")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["Dup"], "already exists"),
        (["Hook", "--webhook-url", "ftp://files.example/x"], "http"),
    ],
)
def test_bad_input_is_refused(db, args, fragment):
    _run("Dup")

    with pytest.raises(CommandError, match=fragment):
        _run(*args)


def test_an_unknown_scope_is_refused(db):
    with pytest.raises(CommandError, match="invalid choice"):
        _run("Odd", "--scopes", "admin:all")
