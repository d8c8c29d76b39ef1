"""Stream a vendor result file (e.g. an Adobe access ZIP) to disk, safely.

The URL comes from a vendor response, so it is treated as untrusted: only allow-listed hosts,
no private or loopback addresses unless the operator listed the host as such, every redirect
re-checked, the bearer token only for Adobe's API host, a size cap, and no partial file left
behind. The connection goes to an address that was checked, never to a second DNS answer (a
host that "rebinds" to 127.0.0.1 between the check and the connect gains nothing), and the
environment's proxy settings are not used for downloads, since a proxy would resolve the host
again. The ZIP and its URL hold personal data (docs/vendors.md): messages name the host
only, never the URL.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from connectors.base import (
    AttemptHook,
    AuthError,
    ConnectorError,
    PermanentError,
    TransientError,
    Transport,
    make_session,
)

ADOBE_API_HOST = "platform.adobe.io"
DEFAULT_MAX_BYTES = 2 * 1024**3
MAX_REDIRECTS = 5
CHUNK_SIZE = 64 * 1024
DEFAULT_PORTS = {"https": 443, "http": 80}
REDIRECT_STATUSES = (301, 302, 303, 307, 308)

Resolver = Callable[[str, int], Iterable[str]]
Pins = Callable[[str, int], Iterable[str]]


def parse_hosts(value: str | Iterable[str]) -> frozenset[str]:
    """"a.com, 127.0.0.1:8001" (RESULT_DOWNLOAD_HOSTS) → normalised host[:port] entries."""
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(item.strip().lower().rstrip(".") for item in items if item.strip())


@dataclass(frozen=True)
class DownloadPolicy:
    """Where result files may come from.

    allowed_hosts: host or host:port entries (no port = the scheme's default port); they must
        resolve to public addresses.
    private_hosts: entries the operator listed explicitly that may resolve to private or
        loopback addresses (the vendor sandbox, an internal mirror); also allowed.
    token_hosts: hosts that receive the Adobe auth headers (never sent over plain http except
        to loopback).
    """

    allowed_hosts: frozenset[str]
    private_hosts: frozenset[str] = frozenset()
    token_hosts: frozenset[str] = frozenset({ADOBE_API_HOST})
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = MAX_REDIRECTS

    def __post_init__(self) -> None:
        for name in ("allowed_hosts", "private_hosts", "token_hosts"):
            object.__setattr__(self, name, parse_hosts(getattr(self, name)))


@dataclass(frozen=True)
class DownloadResult:
    size: int
    sha256: str
    content_type: str | None
    host: str  # the host that served the file, after redirects
    path: str | None = field(default=None)  # None when written to a file object


@dataclass(frozen=True)
class _Hop:
    host: str
    private_ok: bool
    send_token: bool


def resolve_host(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    # is_global is False for private, loopback, link-local, reserved, shared (100.64/10) ...
    return ip.is_global and not ip.is_multicast


def _refused(message: str, code: str) -> PermanentError:
    return PermanentError(f"Result download refused: {message}", code=code)


# --------------------------------------------------------------------------- address pinning


class _PinnedConnectionMixin:
    """Connects to the addresses `pins(host, port)` gives, in order, instead of resolving the host
    again. TLS still verifies the certificate against the host name (SNI and Host unchanged)."""

    pins: Pins
    host: str
    port: int
    timeout: float | None
    source_address: tuple[str, int] | None
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        error: Exception | None = None
        for address in self.pins(self.host, self.port):
            try:
                return urllib3_connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except TimeoutError:
                error = ConnectTimeoutError(self, f"Connection to {self.host} timed out")
            except OSError as exc:
                error = NewConnectionError(self, f"Failed to establish a new connection: {exc}")
        raise error or NewConnectionError(self, f"{self.host} has no checked address")


class PinnedAdapter(HTTPAdapter):
    """A transport adapter whose connections go only to the addresses `pins` names for a host."""

    def __init__(self, pins: Pins, **kwargs: Any) -> None:
        self.pins = pins  # before super().__init__(), which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        attrs = {"pins": staticmethod(self.pins)}
        http = type("PinnedHTTPConnection", (_PinnedConnectionMixin, HTTPConnection), attrs)
        https = type("PinnedHTTPSConnection", (_PinnedConnectionMixin, HTTPSConnection), attrs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("PinnedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("PinnedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


class ResultDownloader(Transport):
    vendor = "download"
    label = "The result file host"

    def __init__(self, policy: DownloadPolicy, *, session: requests.Session | None = None,
                 on_attempt: AttemptHook | None = None, resolver: Resolver = resolve_host,
                 timeout: tuple[float, float] = (5.0, 60.0)) -> None:
        # Addresses each (host, port) was checked against; connections go only to these.
        self._checked: dict[tuple[str, int], tuple[str, ...]] = {}
        if session is None:
            session = make_session(adapter=partial(PinnedAdapter, self._checked_addresses))
            session.environment_proxies = False  # a proxy would resolve the name again
        super().__init__(session=session, on_attempt=on_attempt, timeout=timeout)
        self.policy = policy
        self.resolver = resolver

    def download(self, url: str, dest: str | os.PathLike[str] | BinaryIO, *,
                 auth_headers: Mapping[str, str] | None = None) -> DownloadResult:
        """Stream `url` into `dest` (a path, written atomically, or a binary file object).

        `auth_headers` (e.g. AdobeApi.auth_headers()) go only to policy.token_hosts.
        """
        for _ in range(self.policy.max_redirects + 1):
            hop = self.check_url(url)
            headers = dict(auth_headers or {}) if hop.send_token else {}
            response = self.request("GET", url, operation="download_result", headers=headers,
                                    stream=True, ok=(200, *REDIRECT_STATUSES))
            if response.status_code not in REDIRECT_STATUSES:
                return self._save(response, dest, hop.host)
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise _refused(f"{hop.host} redirected without a Location", "bad_redirect")
            url = urljoin(url, location)
        raise _refused(f"more than {self.policy.max_redirects} redirects", "too_many_redirects")

    def check_url(self, url: str) -> _Hop:
        """Refuse a URL whose scheme, host or resolved addresses the policy does not allow."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS:
            raise _refused("only https (or http) links can be downloaded", "bad_scheme")
        host = (parts.hostname or "").rstrip(".")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise _refused(f"{host} has an invalid port", "bad_url") from None
        if not host or parts.username or parts.password:
            raise _refused("the link has no host or carries credentials", "bad_url")
        entry = self._entry(host, port, parts.scheme)
        if entry is None:
            raise _refused(f"{host}:{port} is not in RESULT_DOWNLOAD_HOSTS", "host_not_allowed")
        private_ok = entry in self.policy.private_hosts
        addresses = self._resolve(host, port)
        if not private_ok and not all(is_public_address(a) for a in addresses):
            raise _refused(f"{host} resolves to a private or loopback address; list it "
                           "explicitly as a private host if that is intended", "private_address")
        self._checked[(host, port)] = tuple(addresses)
        return _Hop(host, private_ok, self._token_allowed(host, parts.scheme, addresses))

    def _checked_addresses(self, host: str, port: int) -> tuple[str, ...]:
        addresses = self._checked.get((host.strip("[]").lower(), port))
        if not addresses:  # a connection check_url() did not allow: refuse, do not resolve
            raise _refused(f"{host}:{port} was not checked before connecting", "unchecked_host")
        return addresses

    def _entry(self, host: str, port: int, scheme: str) -> str | None:
        known = self.policy.allowed_hosts | self.policy.private_hosts
        candidates = [f"{host}:{port}"] + ([host] if port == DEFAULT_PORTS[scheme] else [])
        host_port = f"[{host}]:{port}" if ":" in host else None  # IPv6 literal entries
        return next((c for c in [*candidates, host_port] if c and c in known), None)

    def _resolve(self, host: str, port: int) -> list[str]:
        error: ConnectorError | None = None
        try:
            addresses = list(self.resolver(host, port))
        except OSError:
            addresses = []
            error = TransientError(f"Result download: cannot resolve {host}; will retry",
                                   code="dns_failure")
        if error is None and not addresses:
            error = TransientError(f"Result download: {host} has no address", code="dns_failure")
        if error is not None:
            raise error
        return addresses

    def _token_allowed(self, host: str, scheme: str, addresses: list[str]) -> bool:
        if host not in self.policy.token_hosts:
            return False
        loopback = all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)
        return scheme == "https" or loopback  # never a bearer token in clear over a network

    def transport_error(self, exc: requests.RequestException, operation: str) -> ConnectorError:
        # A download is a GET: resending is harmless, so no reconcile advice and no maybe_sent.
        error = super().transport_error(exc, operation)
        if not isinstance(error, TransientError):
            return error
        return TransientError(f"Result download failed ({error.code}) — it will be retried",
                              code=error.code)

    def raise_for_response(self, response: requests.Response, operation: str) -> None:
        # The body of an error here may be large or hold anything: don't read it.
        status = response.status_code
        response.close()
        if status in (403, 404, 410):
            raise PermanentError(
                f"The result file is gone or its link expired (HTTP {status}) — fetch the job "
                "again for a fresh link (Adobe keeps results about 30 days)",
                status=status, code="link_expired")
        if status == 401:
            raise AuthError("The result host refused our Adobe credentials (HTTP 401) — check "
                            "the Adobe settings", status=status)
        raise self.http_error(response, operation=operation)

    def _save(self, response: requests.Response, dest: str | os.PathLike[str] | BinaryIO,
              host: str) -> DownloadResult:
        with response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.policy.max_bytes:
                raise _refused(f"the file is {int(declared):,} bytes, over the "
                               f"{self.policy.max_bytes:,} byte limit", "too_large")
            content_type = response.headers.get("Content-Type")
            if isinstance(dest, str | os.PathLike):
                size, digest = self._save_to_path(response, os.fspath(dest))
                return DownloadResult(size, digest, content_type, host, os.fspath(dest))
            size, digest = self._save_to_file(response, dest)
            return DownloadResult(size, digest, content_type, host)

    def _save_to_path(self, response: requests.Response, path: str) -> tuple[int, str]:
        partial = f"{path}.part"
        try:
            # 0600: the file holds personal data.
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                result = self._copy(response, out)
            os.replace(partial, path)
        except BaseException:
            if os.path.exists(partial):
                os.remove(partial)
            raise
        return result

    def _save_to_file(self, response: requests.Response, out: BinaryIO) -> tuple[int, str]:
        start = out.tell() if out.seekable() else None
        try:
            return self._copy(response, out)
        except BaseException:
            if start is not None:
                out.seek(start)
                out.truncate()
            raise

    def _copy(self, response: requests.Response, out: BinaryIO) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        error: ConnectorError | None = None
        try:
            for chunk in response.iter_content(CHUNK_SIZE):
                size += len(chunk)
                if size > self.policy.max_bytes:
                    error = _refused(f"the file exceeds the {self.policy.max_bytes:,} byte "
                                     "limit", "too_large")
                    break
                digest.update(chunk)
                out.write(chunk)
        except requests.RequestException as exc:
            error = self.transport_error(exc, "download_result")
        if error is not None:
            raise error
        return size, digest.hexdigest()
