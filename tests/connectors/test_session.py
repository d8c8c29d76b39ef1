"""The vendor session reads the environment once per host, and still honours its proxies."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests.utils

from connectors import base
from connectors.base import make_session


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[dict]]]:
    """A loopback HTTP proxy that answers every request itself: what reached it, and how."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            seen.append({"target": self.path, "authorization": self.headers.get("Authorization"),
                         "cookie": self.headers.get("Cookie")})
            body = json.dumps({"via": "proxy"}).encode()
            self.send_response(200)
            self.send_header("Set-Cookie", "affinity=node-7; Path=/")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_vendor_calls_go_through_the_environments_proxy(
        proxy: tuple[str, list[dict]], monkeypatch: pytest.MonkeyPatch) -> None:
    address, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", address)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = make_session()
    for _ in range(3):
        assert session.get("http://vendor.example/jobs", timeout=5).json() == {"via": "proxy"}
    # The proxy got the absolute URL: the call went through it, not to vendor.example.
    assert [entry["target"] for entry in seen] == ["http://vendor.example/jobs"] * 3


def test_the_environment_is_read_once_per_host(
        proxy: tuple[str, list[dict]], monkeypatch: pytest.MonkeyPatch) -> None:
    address, _ = proxy
    monkeypatch.setenv("HTTP_PROXY", address)
    lookups: list[str] = []
    real = requests.utils.get_environ_proxies

    def counted(url: str, no_proxy=None) -> dict:
        lookups.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(base, "get_environ_proxies", counted)
    session = make_session()
    for path in ("a", "b", "c"):
        session.get(f"http://vendor.example/{path}", timeout=5)
    session.get("http://other.example/a", timeout=5)
    assert lookups == ["http://vendor.example/a", "http://other.example/a"]


def test_no_proxy_is_honoured(proxy: tuple[str, list[dict]],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    address, seen = proxy
    port = address.rsplit(":", 1)[1]
    # The "vendor" is the proxy server itself, reached directly because NO_PROXY names it.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    session = make_session(retries=0)
    assert session.get(f"http://127.0.0.1:{port}/direct", timeout=5).json() == {"via": "proxy"}
    assert [entry["target"] for entry in seen] == ["/direct"]  # origin form: no proxy between


def test_netrc_credentials_are_never_sent(proxy: tuple[str, list[dict]], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    address, seen = proxy
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert requests.get(f"{address}/plain", timeout=5).ok  # a plain Session would send them
    assert seen[-1]["authorization"] is not None
    make_session().get(f"{address}/vendor", timeout=5)
    assert seen[-1]["authorization"] is None


def test_the_ca_bundle_variable_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    settings = make_session().merge_environment_settings(
        "https://vendor.example/", {}, None, None, None)
    assert settings["verify"] == "/etc/ssl/certs/ca-certificates.crt"


def test_cookies_a_vendor_sets_are_not_sent_back(proxy: tuple[str, list[dict]],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    address, seen = proxy
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    plain = requests.Session()
    plain.get(f"{address}/a", timeout=5)
    plain.get(f"{address}/b", timeout=5)
    assert seen[-1]["cookie"] == "affinity=node-7"  # what a plain Session would do
    session = make_session()
    session.get(f"{address}/a", timeout=5)
    session.get(f"{address}/b", timeout=5, params={"page": "2"})
    assert seen[-1] == {"target": "/b?page=2", "authorization": None, "cookie": None}
    assert not session.cookies
