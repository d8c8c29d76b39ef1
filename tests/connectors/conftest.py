"""Vendor sandbox fixtures: a real server on an ephemeral loopback port per test.

No Django here, so the sandbox tests also run with ``-p no:django``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from connectors.sandbox import SandboxServer

ORG = "SANDBOX@AdobeOrg"


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """Start sandboxes with custom settings, e.g. ``make_sandbox(speed=None)``."""
    started: list[SandboxServer] = []

    def make(**settings: Any) -> SandboxServer:
        server = SandboxServer(port=0, **settings).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    """A fresh sandbox in instant mode (speed 0: a job's first read shows its final status)."""
    return make_sandbox(speed=0)


def fetch_token(server: SandboxServer) -> str:
    response = requests.post(
        f"{server.url}/adobe/ims/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": server.config.client_id,
            "client_secret": server.config.client_secret,
            "scope": "openid,AdobeID",
        },
        timeout=5,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def adobe_headers_for(server: SandboxServer) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {fetch_token(server)}",
        "x-api-key": server.config.client_id,
        "x-gw-ims-org-id": server.config.org_id,
    }


@pytest.fixture
def adobe_headers(sandbox: SandboxServer) -> dict[str, str]:
    """Valid gateway headers (a fresh IMS token) for the ``sandbox`` fixture."""
    return adobe_headers_for(sandbox)


@pytest.fixture
def jobs_body() -> Callable[..., dict[str, Any]]:
    """A valid Privacy Service ``POST /jobs`` body; keyword arguments replace top-level keys."""

    def make(**overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "companyContexts": [{"namespace": "imsOrgID", "value": ORG}],
            "users": [
                {
                    "key": "DSAR-2026-000001",
                    "action": ["access"],
                    "userIDs": [
                        {"namespace": "email", "value": "ada@example.org", "type": "standard"},
                        {"namespace": "ECID", "value": "44363657679975868102", "type": "standard"},
                    ],
                }
            ],
            "include": ["Analytics", "profileService"],
            "regulation": "gdpr",
        }
        body.update(overrides)
        return body

    return make


@pytest.fixture
def headers_for() -> Callable[[SandboxServer], dict[str, str]]:
    """``headers_for(server)``: valid gateway headers for a sandbox from ``make_sandbox``."""
    return adobe_headers_for
