"""``manage.py vendor_sandbox``: loopback only, prints the env lines, stops cleanly."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (the address the command must refuse)


def command_module():
    pytest.importorskip("django")
    from connectors.management.commands import vendor_sandbox

    return vendor_sandbox


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.2", True),
        (ALL_INTERFACES, False),
        ("192.168.1.10", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, loopback):
    assert command_module().is_loopback(host) is loopback


@pytest.mark.parametrize(("raw", "speed"), [("5", 5.0), ("0", 0.0), ("manual", None)])
def test_speed_argument(raw, speed):
    assert command_module().speed_arg(raw) == speed


@pytest.mark.parametrize("raw", ["fast", "-1"])
def test_bad_speed_argument(raw):
    with pytest.raises(argparse.ArgumentTypeError):
        command_module().speed_arg(raw)


def run_command(*args: str) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "true", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(  # noqa: S603 (fixed argv: this interpreter and manage.py)
        [sys.executable, "manage.py", "vendor_sandbox", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_env(process: subprocess.Popen) -> dict[str, str]:
    env: dict[str, str] = {}
    while "RESULT_DOWNLOAD_HOSTS" not in env:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"command ended early: {process.stderr.read()}")
        if "=" in line and not line.startswith("#"):
            name, value = line.strip().split("=", 1)
            env[name] = value
    return env


@pytest.mark.skipif(not (ROOT / "config" / "settings.py").exists(), reason="no Django settings")
def test_command_serves_until_interrupted():
    process = run_command("--port", "0", "--speed", "manual", "--id5-token", "tok")
    try:
        env = read_env(process)
        assert env["ADOBE_PRIVACY_BASE_URL"].startswith("http://127.0.0.1:")
        assert env["ID5_TOKEN"] == "tok"
        base = env["ADOBE_PRIVACY_BASE_URL"].removesuffix("/adobe/privacy")
        assert requests.get(f"{base}/_sandbox/health", timeout=5).json()["ok"] is True
        process.send_signal(signal.SIGINT)
        out, _err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "stopped" in out


@pytest.mark.skipif(not (ROOT / "config" / "settings.py").exists(), reason="no Django settings")
def test_command_refuses_a_non_loopback_host():
    process = run_command("--port", "0", "--host", ALL_INTERFACES)
    _out, err = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "not a loopback address" in err
