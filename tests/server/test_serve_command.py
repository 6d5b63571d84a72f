"""`dflock serve` as a user runs it: a subprocess, a log line, SIGTERM."""

import os
import signal
import socket
import subprocess
import sys


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_logs_address_and_exits_cleanly_on_sigterm():
    port = _free_port()
    env = {**os.environ, "DFLOCKD_READ_TIMEOUT_S": "5", "DFLOCKD_AUTH_TOKEN": "cli-secret"}
    child = subprocess.Popen(
        [sys.executable, "-m", "dflock_integrations", "serve", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = child.stderr.readline()
        assert f"listening on 127.0.0.1:{port}" in line
        assert "auth on" in line
        assert "cli-secret" not in line
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"auth\n_\ncli-secret\nping\n_\n\n")
            assert sock.makefile("rb").read(6) == b"ok\nok\n"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=15) == 0
    finally:
        child.kill()


def test_serve_rejects_bad_values():
    result = subprocess.run(
        [sys.executable, "-m", "dflock_integrations", "serve", "--read-timeout", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--read-timeout" in result.stderr
