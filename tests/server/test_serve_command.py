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


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DFLOCK_", "DFLOCKD_"))}
    return {**env, **extra}


def test_serve_listens_where_the_clients_look_and_takes_their_token(tmp_path):
    port = _free_port()
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    env = _clean_env(DFLOCK_SERVERS=f"127.0.0.1:{port}", DFLOCK_AUTH_TOKEN_FILE=str(token_file))
    child = subprocess.Popen(
        [sys.executable, "-m", "dflock_integrations", "serve", "--compat", "2.1"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = child.stderr.readline()
        assert f"listening on 127.0.0.1:{port}" in line
        assert "answering as dflockd 2.1" in line
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"auth\n_\nfrom-a-file\nping\n_\n\n")
            assert sock.makefile("rb").read(6) == b"ok\nok\n"
    finally:
        child.kill()
        child.wait(timeout=10)


def test_serve_refuses_several_servers_without_an_address():
    result = subprocess.run(
        [sys.executable, "-m", "dflock_integrations", "serve"],
        capture_output=True,
        text=True,
        timeout=30,
        env=_clean_env(DFLOCK_SERVERS="127.0.0.1:7001,127.0.0.1:7002"),
    )
    assert result.returncode == 2
    assert "DFLOCK_SERVERS names 2 servers" in result.stderr


def test_serve_rejects_an_unknown_generation():
    result = subprocess.run(
        [sys.executable, "-m", "dflock_integrations", "serve", "--compat", "3.0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=_clean_env(),
    )
    assert result.returncode == 2
    assert "'3.0' is not one of" in result.stderr
