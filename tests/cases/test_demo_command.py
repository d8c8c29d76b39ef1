"""`manage.py demo` as a person runs it: the banner comes last, and Ctrl-C stops it in seconds."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STOP_LIMIT = 10.0  # seconds from Ctrl-C to exit


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        opener.open(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


class Output:
    """The demo's stdout and stderr, collected line by line as it prints them."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline, f"no {text!r} in:\n" + "\n".join(self.lines)
            time.sleep(0.2)


@pytest.fixture
def demo(tmp_path):
    port, sandbox_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "CACHE_URL": f"filecache://{tmp_path / 'cache'}",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "demo", "--port", str(port),
         "--sandbox-port", str(sandbox_port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own terminal-like process group, as under a shell
    )
    yield process, Output(process.stdout), port
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid`, from /proc (the ppid follows the state in stat)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it ended meanwhile
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_prints_the_logins_last_and_stops_on_ctrl_c_within_seconds(demo):
    process, output, port = demo
    deadline = time.monotonic() + 120
    while not _answers(f"http://127.0.0.1:{port}/admin/login/"):
        assert process.poll() is None, "\n".join(output.lines)
        assert time.monotonic() < deadline, "the admin never answered"
        time.sleep(0.3)
    output.wait_for("Press Ctrl-C to stop.", timeout=60)
    time.sleep(1)  # nothing a child prints while idle may bury the banner
    banner_start = output.lines.index(f"Privacy Desk is running: http://127.0.0.1:{port}/admin/")
    banner = output.lines[banner_start + 1:]
    assert [line.split()[0] for line in banner[:3]] == ["officer", "auditor", "admin"]
    # Then the demo case waiting for its subject's email link, and the last line.
    assert "waits for its subject: open http://127.0.0.1:" in banner[3]
    assert "/portal/verify/" in banner[3]
    assert banner[-1] == "Press Ctrl-C to stop." and len(banner) == 6
    assert "Administrator" in output.lines[banner_start + 3]
    children = _children(process.pid)
    assert len(children) == 3  # sandbox, web server, worker

    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    process.wait(timeout=STOP_LIMIT + 5)
    took = time.monotonic() - started
    output.thread.join(timeout=5)

    assert took < STOP_LIMIT, f"Ctrl-C took {took:.1f} s"
    assert process.returncode == 0
    after_banner = [line for line in output.lines[banner_start + 7:] if line.strip()]
    assert after_banner == ["Stopping the demo...", "Stopped."]
    assert not [pid for pid in children if _alive(pid)]
