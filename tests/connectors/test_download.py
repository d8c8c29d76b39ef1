"""Result downloads: allow-list, address checks hop by hop, token scoping, size cap, cleanup."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import responses
from urllib3.exceptions import ProtocolError

from connectors.base import AuthError, PermanentError, TransientError, make_session
from connectors.download import DownloadPolicy, ResultDownloader, is_public_address, parse_hosts

ZIP = b"PK\x03\x04" + b"result-bytes" * 1000
ADOBE = "https://platform.adobe.io/data/core/privacy/jobs/j1/download"
BLOB = "https://files.adobe-results.example/j1.zip?sig=abc"
ADDRESSES = {
    "platform.adobe.io": ["151.101.1.1"],
    "files.adobe-results.example": ["93.184.216.34"],
    "internal.example": ["192.168.1.10"],
    "rebound.example": ["93.184.216.35", "10.0.0.7"],
    "127.0.0.1": ["127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
}
AUTH = {"Authorization": "Bearer tok-1", "x-api-key": "client-abc",
        "x-gw-ims-org-id": "ORG1@AdobeOrg"}


def resolver(host: str, port: int) -> Iterable[str]:
    if host not in ADDRESSES:
        raise OSError("Name or service not known")
    return ADDRESSES[host]


def downloader(**policy: object) -> ResultDownloader:
    values: dict[str, object] = {
        "allowed_hosts": "platform.adobe.io, files.adobe-results.example, internal.example, "
                         "rebound.example, metadata.example",
        **policy}
    return ResultDownloader(DownloadPolicy(**values), resolver=resolver,  # type: ignore[arg-type]
                            session=make_session(backoff_factor=0))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@responses.activate
def test_streams_to_a_path_with_hash_size_and_private_permissions(tmp_path: Path) -> None:
    responses.get(ADOBE, body=ZIP, content_type="application/zip")
    target = tmp_path / "result.zip"
    result = downloader().download(ADOBE, target, auth_headers=AUTH)
    assert target.read_bytes() == ZIP
    assert (result.size, result.sha256) == (len(ZIP), hashlib.sha256(ZIP).hexdigest())
    assert (result.host, result.path, result.content_type) == (
        "platform.adobe.io", str(target), "application/zip")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert leftovers(tmp_path) == ["result.zip"]
    assert responses.calls[0].request.req_kwargs["stream"] is True


@responses.activate
def test_streams_to_a_file_object() -> None:
    responses.get(BLOB, body=ZIP)
    out = io.BytesIO()
    result = downloader().download(BLOB, out)
    assert out.getvalue() == ZIP and result.path is None and result.size == len(ZIP)


@responses.activate
def test_token_goes_to_adobe_api_host_only_and_not_across_redirects(tmp_path: Path) -> None:
    responses.get(ADOBE, status=302, headers={"Location": BLOB})
    responses.get(BLOB, body=ZIP)
    downloader().download(ADOBE, tmp_path / "r.zip", auth_headers=AUTH)
    first, second = (call.request.headers for call in responses.calls)
    assert first["Authorization"] == "Bearer tok-1" and first["x-api-key"] == "client-abc"
    assert "Authorization" not in second and "x-api-key" not in second


@responses.activate
def test_token_is_not_sent_to_other_hosts(tmp_path: Path) -> None:
    responses.get(BLOB, body=ZIP)
    downloader().download(BLOB, tmp_path / "r.zip", auth_headers=AUTH)
    assert "Authorization" not in responses.calls[0].request.headers


@responses.activate
def test_token_is_not_sent_over_plain_http_to_a_network_host(tmp_path: Path) -> None:
    url = "http://platform.adobe.io/data/core/privacy/jobs/j1/download"
    responses.get(url, body=ZIP)
    downloader(allowed_hosts="platform.adobe.io:80").download(url, tmp_path / "r.zip",
                                                              auth_headers=AUTH)
    assert "Authorization" not in responses.calls[0].request.headers


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://evil.example/r.zip", "host_not_allowed"),
        ("https://platform.adobe.io:8443/r.zip", "host_not_allowed"),
        ("https://internal.example/r.zip", "private_address"),
        ("https://rebound.example/r.zip", "private_address"),
        ("https://metadata.example/latest", "private_address"),
        ("https://127.0.0.1/r.zip", "host_not_allowed"),
        ("ftp://platform.adobe.io/r.zip", "bad_scheme"),
        ("file:///etc/passwd", "bad_scheme"),
        ("https://user:pw@platform.adobe.io/r.zip", "bad_url"),
    ],
)
@responses.activate
def test_refusals_happen_before_any_request(tmp_path: Path, url: str, code: str) -> None:
    with pytest.raises(PermanentError) as caught:
        downloader().download(url, tmp_path / "r.zip")
    assert caught.value.code == code
    assert caught.value.message.startswith("Result download refused: ")
    assert "r.zip" not in caught.value.message and "passwd" not in caught.value.message
    assert len(responses.calls) == 0
    assert leftovers(tmp_path) == []


@responses.activate
def test_redirect_to_a_private_address_is_refused(tmp_path: Path) -> None:
    responses.get(BLOB, status=302, headers={"Location": "https://internal.example/r.zip"})
    with pytest.raises(PermanentError) as caught:
        downloader().download(BLOB, tmp_path / "r.zip")
    assert caught.value.code == "private_address"
    assert len(responses.calls) == 1


@responses.activate
def test_redirect_to_an_unlisted_host_is_refused(tmp_path: Path) -> None:
    responses.get(BLOB, status=307, headers={"Location": "https://evil.example/r.zip"})
    with pytest.raises(PermanentError) as caught:
        downloader().download(BLOB, tmp_path / "r.zip")
    assert caught.value.code == "host_not_allowed"


@responses.activate
def test_more_than_five_redirects_are_refused(tmp_path: Path) -> None:
    responses.get(BLOB, status=302, headers={"Location": BLOB})
    with pytest.raises(PermanentError) as caught:
        downloader().download(BLOB, tmp_path / "r.zip")
    assert caught.value.code == "too_many_redirects"
    assert len(responses.calls) == 6


@responses.activate
def test_explicitly_listed_loopback_host_is_allowed(tmp_path: Path) -> None:
    url = "http://127.0.0.1:8765/adobe/download/j1.zip?sig=abc"
    responses.get(url, body=ZIP)
    result = downloader(private_hosts="127.0.0.1:8765").download(url, tmp_path / "r.zip")
    assert result.size == len(ZIP)


@responses.activate
def test_loopback_only_in_the_public_list_is_refused(tmp_path: Path) -> None:
    url = "http://127.0.0.1:8765/adobe/download/j1.zip"
    with pytest.raises(PermanentError) as caught:
        downloader(allowed_hosts="127.0.0.1:8765").download(url, tmp_path / "r.zip")
    assert caught.value.code == "private_address"


@responses.activate
def test_declared_oversize_body_is_refused_without_reading_it(tmp_path: Path) -> None:
    responses.get(BLOB, body=ZIP, headers={"Content-Length": str(len(ZIP))})
    with pytest.raises(PermanentError) as caught:
        downloader(max_bytes=1000).download(BLOB, tmp_path / "r.zip")
    assert caught.value.code == "too_large"
    assert leftovers(tmp_path) == []


@responses.activate
def test_oversize_stream_is_cut_off_and_the_partial_file_removed(tmp_path: Path) -> None:
    responses.get(BLOB, body=io.BufferedReader(io.BytesIO(ZIP)))
    with pytest.raises(PermanentError) as caught:
        downloader(max_bytes=len(ZIP) - 1).download(BLOB, tmp_path / "r.zip")
    assert caught.value.code == "too_large"
    # No Content-Length was declared: the cap was found out while streaming.
    assert "Content-Length" not in responses.calls[0].response.headers
    assert leftovers(tmp_path) == []


class BrokenStream(io.RawIOBase):
    """Gives one chunk, then the connection drops."""

    def __init__(self) -> None:
        self.sent = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self.sent:
            raise ProtocolError("Connection broken: IncompleteRead")
        self.sent = True
        buffer[:4] = b"PK\x03\x04"
        return 4


@responses.activate
def test_dropped_stream_removes_the_partial_file_and_is_transient(tmp_path: Path) -> None:
    (tmp_path / "r.zip").write_bytes(b"previous good copy")
    responses.get(BLOB, body=io.BufferedReader(BrokenStream()))
    with pytest.raises(TransientError) as caught:
        downloader().download(BLOB, tmp_path / "r.zip")
    assert not caught.value.maybe_sent
    assert leftovers(tmp_path) == ["r.zip"]
    assert (tmp_path / "r.zip").read_bytes() == b"previous good copy"


@responses.activate
def test_failure_truncates_what_was_written_to_a_file_object() -> None:
    responses.get(BLOB, body=io.BufferedReader(io.BytesIO(ZIP)))
    out = io.BytesIO(b"header:")
    out.seek(0, io.SEEK_END)
    with pytest.raises(PermanentError):
        downloader(max_bytes=10).download(BLOB, out)
    assert out.getvalue() == b"header:"


@pytest.mark.parametrize(("status", "error_class"), [(403, PermanentError),
                                                     (404, PermanentError),
                                                     (401, AuthError)])
@responses.activate
def test_expired_links_and_refused_credentials(tmp_path: Path, status: int,
                                               error_class: type) -> None:
    responses.get(BLOB, status=status, body="<Error>AuthenticationFailed</Error>")
    with pytest.raises(error_class) as caught:
        downloader().download(BLOB, tmp_path / "r.zip")
    if status != 401:
        assert caught.value.code == "link_expired"
    assert "sig=" not in caught.value.message


@responses.activate
def test_unresolvable_host_is_transient(tmp_path: Path) -> None:
    with pytest.raises(TransientError) as caught:
        downloader(allowed_hosts="gone.example").download("https://gone.example/r.zip",
                                                          tmp_path / "r.zip")
    assert caught.value.code == "dns_failure"


@pytest.mark.parametrize(
    ("address", "public"),
    [("93.184.216.34", True), ("10.1.2.3", False), ("172.16.0.1", False),
     ("192.168.0.1", False), ("127.0.0.1", False), ("169.254.169.254", False),
     ("100.64.0.1", False), ("0.0.0.0", False),  # noqa: S104 (an address under test)
     ("240.0.0.1", False), ("224.0.0.1", False),
     ("::1", False), ("fe80::1%eth0", False), ("fd00::1", False), ("::ffff:10.0.0.1", False),
     ("2606:4700::1111", True)],
)
def test_public_address_check(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_host_lists_are_normalised() -> None:
    assert parse_hosts(" Platform.Adobe.IO., 127.0.0.1:8001 ,,") == frozenset(
        {"platform.adobe.io", "127.0.0.1:8001"})


# --------------------------------------------------------------------------- address pinning


class _FileHandler(BaseHTTPRequestHandler):
    hosts: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.hosts.append(self.headers["Host"])
        self.send_response(200)
        self.send_header("Content-Length", str(len(ZIP)))
        self.end_headers()
        self.wfile.write(ZIP)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def file_server() -> Iterator[tuple[int, list[str]]]:
    """A plain HTTP server on loopback; yields its port and the Host headers it received."""
    handler = type("Handler", (_FileHandler,), {"hosts": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler.hosts
    server.shutdown()
    server.server_close()


def test_connects_to_the_checked_address_without_resolving_again(
        file_server: tuple[int, list[str]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # files.example exists nowhere: only the address the check approved can have been used,
    # and the environment's proxy (which would resolve the name again) is ignored.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    port, hosts = file_server
    lookups: list[str] = []

    def resolve_once(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    entry = f"files.example:{port}"
    downloader = ResultDownloader(DownloadPolicy(allowed_hosts={entry}, private_hosts={entry}),
                                  resolver=resolve_once)
    result = downloader.download(f"http://{entry}/r.zip", tmp_path / "r.zip")
    assert (tmp_path / "r.zip").read_bytes() == ZIP and result.host == "files.example"
    assert lookups == ["files.example"]
    assert hosts == [entry]  # the Host header still names the host, not the address


def test_a_connection_that_was_not_checked_is_refused(
        file_server: tuple[int, list[str]]) -> None:
    port, hosts = file_server
    downloader = ResultDownloader(DownloadPolicy(allowed_hosts=set()), resolver=resolver)
    with pytest.raises(PermanentError) as caught:
        downloader.session.get(f"http://127.0.0.1:{port}/r.zip", timeout=5)
    assert caught.value.code == "unchecked_host"
    assert hosts == []
