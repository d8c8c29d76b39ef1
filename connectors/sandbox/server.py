"""The HTTP server (standard library, one thread per connection) and its Python API."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .app import App
from .config import SandboxConfig
from .http import Reply, Request, redact_url
from .state import SandboxState

log = logging.getLogger("connectors.sandbox")
DEFAULT_SCOPES = "openid,session,AdobeID,read_organizations,additional_info.projectedProductContext"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PrivacyDeskSandbox/1.0"
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's
    # delayed ACK (~40 ms a response).
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        body = self._read_body()
        headers = dict(self.headers.items())
        req = Request.build(self.command, self.path, headers, body, self.server.base_url)
        self._send(self.server.app.dispatch(req))

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, reply: Reply) -> None:
        if reply.drop:
            # Close without a single byte of response: the client sees a dropped connection.
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        # The request line carries ID5's token in its query string: never log it unredacted.
        log.debug("%s %s", self.address_string(), redact_url(format % args))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256  # listen backlog: benchmarks open many connections at once

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self.base_url = ""
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class SandboxServer:
    """The vendor sandbox on a loopback port; usable as a context manager.

    ``SandboxServer(port=0, speed=0, id5_partner_daily_limit=5).start()``; keyword settings are
    ``SandboxConfig`` fields. ``url`` is ``http://127.0.0.1:<port>``; ``state`` is the live
    ``SandboxState``. The helper methods drive the same code as the ``/_sandbox`` endpoints.
    """

    def __init__(
        self, port: int = 0, host: str = "127.0.0.1", *, speed: float | None = 0.0, **settings: Any
    ) -> None:
        self.config = SandboxConfig(speed=speed, **settings)
        self.state = SandboxState(self.config)
        self.app = App(self.state)
        self.host = host
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def bind(self) -> SandboxServer:
        if self._httpd is None:
            self._httpd = _Server((self.host, self._port), self.app)
            self._httpd.base_url = self.url
        return self

    def start(self) -> SandboxServer:
        """Serve in a background daemon thread; returns self (a no-op when already serving)."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self.app.stopping.clear()
        self.bind()
        assert self._httpd is not None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"vendor-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` (or KeyboardInterrupt)."""
        self.app.stopping.clear()
        self.bind()
        assert self._httpd is not None
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._close()

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.app.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        if self._httpd is not None:
            self._httpd.close_connections()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            return self._port
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104
        host = wildcard.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point Privacy Desk at this sandbox."""
        return {
            "ADOBE_IMS_TOKEN_URL": f"{self.url}/adobe/ims/ims/token/v3",
            "ADOBE_PRIVACY_BASE_URL": f"{self.url}/adobe/privacy",
            "ADOBE_HYGIENE_BASE_URL": f"{self.url}/adobe/hygiene",
            "ID5_BASE_URL": f"{self.url}/id5",
            "ADOBE_CLIENT_ID": self.config.client_id,
            "ADOBE_CLIENT_SECRET": self.config.client_secret,
            "ADOBE_ORG_ID": self.config.org_id,
            "ADOBE_SCOPES": DEFAULT_SCOPES,
            "ADOBE_SANDBOX_NAME": "prod",
            "ADOBE_HYGIENE_DATASET_ID": "sandbox-dataset",
            "ID5_PARTNER_ID": str(self.config.id5_partner_id),
            "ID5_TOKEN": self.config.id5_token,
            "RESULT_DOWNLOAD_HOSTS": self.url.removeprefix("http://"),
        }

    # -- control helpers (same code as the /_sandbox endpoints) ----------------------------
    def control(
        self, method: str, path: str, body: dict[str, Any] | None = None, query: str = ""
    ) -> Any:
        """Call a ``/_sandbox/...`` endpoint in-process; raises ValueError on a 4xx."""
        data = json.dumps(body).encode() if body is not None else b""
        target = f"/_sandbox/{path.strip('/')}" + (f"?{query}" if query else "")
        req = Request.build(method, target, {"Content-Type": "application/json"}, data, self.url)
        reply = self.app.dispatch(req)
        if reply.status >= 400:
            raise ValueError(reply.data().get("error", reply.status))
        return reply.data()

    def reset(self) -> None:
        self.control("POST", "reset")

    def add_fault(
        self,
        kind: str,
        vendor: str = "*",
        operation: str | None = None,
        count: int = 1,
        **options: Any,
    ) -> dict[str, Any]:
        """Arm a fault (options: delay, status, retry_after); returns it with its id."""
        body = {"kind": kind, "vendor": vendor, "operation": operation, "count": count, **options}
        return self.control("POST", "faults", body)["faults"][-1]

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def advance(self, steps: int = 0, seconds: float = 0.0, job_id: str | None = None) -> None:
        body: dict[str, Any] = {"steps": steps, "seconds": seconds}
        if job_id:
            body["id"] = job_id
        self.control("POST", "advance", body)

    def set_outcome(self, job_id: str, outcome: str) -> dict[str, Any]:
        return self.control("POST", "outcome", {"id": job_id, "outcome": outcome})

    def revoke_tokens(self) -> int:
        return int(self.control("POST", "tokens/revoke")["revoked"])

    def requests(self, vendor: str | None = None, operation: str | None = None) -> list[dict]:
        return self.state.recorder.requests(vendor, operation)

    def counters(self) -> dict[str, int]:
        return self.state.recorder.counters()

    def count(self, vendor: str, operation: str | None = None) -> int:
        """Requests received for a vendor (and operation), including faulted and rejected."""
        return sum(
            n
            for key, n in self.counters().items()
            if key == f"{vendor}.{operation}"
            or (operation is None and key.startswith(f"{vendor}."))
        )
