"""Start and stop the processes of the example story: a Celery worker and the web app.

Shared by `demo.py` and `tests/examples`. The dflock server is the caller's (the demo
runs one in its own process, the tests use the pytest plugin's), given as `DFLOCK_*`
variables. Each process starts in a session, hence a process group, of its own:
Ctrl-C in a terminal reaches only the caller, which stops the groups itself, and a
final SIGKILL to the group reaches the worker's prefork children too. Every wait has
a deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent  # example_projects/
DJANGO_SITE = HERE / "django_site"

READY_TIMEOUT_S = 30.0  # a worker or web app not answering by then failed to start
STOP_TIMEOUT_S = 10.0  # a polite SIGTERM, then SIGKILL for the whole group
KILL_TIMEOUT_S = 5.0
POLL_S = 0.02


class StackError(RuntimeError):
    """A process of the story did not start, or did not stop, in time."""


def group_members(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes in process group `pgid`."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel whether anyone is left
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def wait_until(check, *, timeout_s: float, what: str) -> None:
    """Poll `check()` until true; StackError naming `what` after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(POLL_S)


class Child:
    """A process of the story, leader of its own process group, with its output in a log."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def pgid(self) -> int:
        return self.process.pid  # start_new_session: the leader's pid names the group

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise StackError(
                f"{self.name} exited with status {self.process.returncode}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        """SIGTERM to the leader (a warm shutdown), then SIGKILL to whatever is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT_S)
        # Children may outlive their leader (a killed worker's pool processes).
        if self.process.poll() is None or group_members(self.pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGKILL)
            self.process.wait(KILL_TIMEOUT_S)
        wait_until(
            lambda: not group_members(self.pgid),
            timeout_s=KILL_TIMEOUT_S,
            what=f"process group {self.pgid} ({self.name}) to end",
        )


def stop_all(children: list[Child]) -> None:
    """Stop every child, last started first; then raise the first failure, if any."""
    failures = []
    for child in reversed(children):
        try:
            child.stop()
        except Exception as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


def spawn(
    name: str,
    command: list[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
    pass_fds: tuple[int, ...] = (),
) -> Child:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
            start_new_session=True,  # its own process group, out of reach of the terminal's ^C
        )
    return Child(name, process, log)


# -- environments ----------------------------------------------------------------------------


def dflock_env(address: str, *, key_prefix: str, read_timeout_s: float) -> dict[str, str]:
    """What every project of the story needs to share one dflock server and namespace."""
    return {
        "DFLOCK_SERVERS": address,
        "DFLOCK_KEY_PREFIX": key_prefix,
        "DFLOCK_SERVER_READ_TIMEOUT_S": str(read_timeout_s),
        "DFLOCK_CONNECT_TIMEOUT_S": "2",
    }


def filesystem_broker_env(folder: Path) -> dict[str, str]:
    """kombu's filesystem transport in `folder`: nothing to install."""
    return {"REPORTS_BROKER_DIR": str(folder), "REPORTS_QUEUE": "reports"}


def redis_broker_env(url: str) -> dict[str, str]:
    """A Redis broker (and result backend) at `url`, with a queue of this run's own."""
    return {"CELERY_BROKER_URL": url, "REPORTS_QUEUE": f"reports-{uuid.uuid4().hex[:10]}"}


def project_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment, minus anything that would point elsewhere, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DFLOCK_", "CELERY_", "REPORTS_", "DJANGO_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **extra}


# -- the processes -----------------------------------------------------------------------------


def start_worker(env: Mapping[str, str], log: Path, *, concurrency: int = 2) -> Child:
    """`celery -A celery_app worker` (prefork), returned once it says it is ready."""
    command = [
        sys.executable, "-m", "celery", "-A", "celery_app", "worker",
        "--pool", "prefork", "--concurrency", str(concurrency),
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", "INFO",
        "--hostname", f"reports-{uuid.uuid4().hex[:6]}@%h",
    ]  # fmt: skip
    worker = spawn("celery worker", command, env=env, cwd=HERE, log=log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        # Celery logs "<hostname> ready." once it consumes; anything sent before waits
        # in the queue anyway, so this only keeps the story's timeline honest.
        while " ready." not in worker.log_tail(200):
            worker.check_running()
            if time.monotonic() > deadline:
                raise StackError(
                    f"the celery worker was not ready within {READY_TIMEOUT_S:g} s:\n"
                    f"{worker.log_tail()}"
                )
            time.sleep(POLL_S)
    except BaseException:
        worker.stop()
        raise
    return worker


def start_web(env: Mapping[str, str], log: Path) -> tuple[Child, str]:
    """uvicorn serving `fastapi_app.main:app` on a free 127.0.0.1 port; (child, base URL).

    The socket is bound here and handed over (`--fd`), so no other process can take the
    port between choosing it and listening on it. Returned once `GET /` answers.
    """
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        command = [
            sys.executable, "-m", "uvicorn", "fastapi_app.main:app",
            "--fd", str(sock.fileno()),
            "--timeout-graceful-shutdown", "2",  # open event streams must not hold it up
            "--no-access-log",
        ]  # fmt: skip
        web = spawn("uvicorn", command, env=env, cwd=HERE, log=log, pass_fds=(sock.fileno(),))
    finally:
        sock.close()  # the child has its own copy
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            web.check_running()
            try:
                # Connections wait in the socket's backlog until uvicorn has started.
                if httpx.get(f"{url}/", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StackError(
                    f"the web app did not answer within {READY_TIMEOUT_S:g} s:\n{web.log_tail()}"
                )
            time.sleep(POLL_S)
    except BaseException:
        web.stop()
        raise
    return web, url


def manage(
    *args: str, env: Mapping[str, str], timeout_s: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """`python manage.py ARGS` of django_site; its output, whatever the exit status."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=DJANGO_SITE,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


@dataclass
class Stack:
    worker: Child
    web: Child
    url: str

    @property
    def children(self) -> tuple[Child, ...]:
        return (self.worker, self.web)


@contextlib.contextmanager
def running_stack(env: Mapping[str, str], logs: Path, *, concurrency: int = 2) -> Iterator[Stack]:
    """The worker and the web app, both started and answering; both stopped on exit."""
    with contextlib.ExitStack() as stops:
        worker = start_worker(env, logs / "worker.log", concurrency=concurrency)
        stops.callback(worker.stop)
        web, url = start_web(env, logs / "web.log")
        stops.callback(web.stop)  # stopped first: it queues work for the worker
        yield Stack(worker, web, url)
