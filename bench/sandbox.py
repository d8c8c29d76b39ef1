"""The vendor sandbox for the benchmarks: started in this process, the settings pointed at it."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache

from connectors.sandbox import SandboxServer

# Vendors the benchmark cases go to: Adobe Privacy Service only (the measures).
ADOBE_ONLY = ["adobe_privacy"]
PRODUCTS = ["analytics"]


@contextmanager
def sandbox(*, speed: float | None = None) -> Iterator[SandboxServer]:
    """A sandbox whose jobs stay where they are until `advance` (speed None) by default."""
    server = SandboxServer(port=0, speed=speed).start()
    env = server.env()
    saved = {name: getattr(settings, name, None) for name in env}
    try:
        for name, value in env.items():
            setattr(settings, name, value)
        settings.RESULT_DOWNLOAD_HOSTS = [env["RESULT_DOWNLOAD_HOSTS"]]
        cache.clear()  # no Adobe token of an earlier sandbox
        yield server
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)
        server.stop()


def counters(server: SandboxServer) -> dict[str, int]:
    return server.control("GET", "counters")["counters"]
