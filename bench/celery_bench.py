"""Per-task overhead of the Celery decorators, against the same undecorated task.

Two measurements, against one `dflock serve` process on loopback:
- in process: `task.apply()` of each kind, interleaved rounds; the difference of
  medians is what a decorator adds to a run (lease cycle, key, outcome signal);
- through a worker: N tasks of each kind through a real prefork worker with
  concurrency 1 (Redis broker on 127.0.0.1:6379 if it answers, else the filesystem
  transport); the difference of wall time per task is what a user would see.

Run alone: `.venv/bin/python bench/celery_bench.py` (prints the tables); `./dev bench`
puts them in docs/benchmarks.md.
This module is also the worker's app (`celery -A bench.celery_bench worker`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from celery.app.base import Celery

from bench._harness import server_process
from dflock_integrations.celery import (
    close_clients,
    dflock_semaphore,
    install_outcome_signals,
    single_instance,
)
from dflock_integrations.testing.filesystem_broker import filesystem_broker

ROOT = Path(__file__).resolve().parent.parent
CONF_ENV = "DFLOCK_CELERY_BENCH_CONF"
REDIS_URL = "redis://127.0.0.1:6379/14"
IN_PROCESS_RUNS = 2000
ROUNDS = 5
WORKER_TASKS = 200
WORKER_ROUNDS = 3
GOAL_MS = 2.0


def define_tasks(app: Celery) -> dict[str, Any]:
    """The same body, undecorated and under each decorator, as tasks of `app`."""

    @app.task(name="bench.plain")
    def plain() -> None:
        return None

    @app.task(name="bench.single")
    @single_instance("bench-single")
    def single() -> None:
        return None

    @app.task(name="bench.single_quiet")
    @single_instance("bench-single-quiet", emit=False)
    def single_quiet() -> None:
        return None

    @app.task(name="bench.slot")
    @dflock_semaphore("bench-slots", limit=4)
    def slot() -> None:
        return None

    return {
        "undecorated": plain,
        "@single_instance": single,
        "@single_instance(emit=False)": single_quiet,
        "@dflock_semaphore(limit=4)": slot,
    }


# The worker's app, configured from the environment; the benchmark sends through it.
app = Celery("bench.celery_bench")
app.conf.update(json.loads(os.environ.get(CONF_ENV, "{}")))
KINDS = define_tasks(app)


# -- in process ----------------------------------------------------------------------------


def _apply_samples(task: Any, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        task.apply()
        samples.append(time.perf_counter() - started)
    return samples


def run_in_process(address: str) -> dict[str, list[float]]:
    dflock = {"servers": address, "key_prefix": f"bench{uuid.uuid4().hex[:6]}."}
    local = Celery("bench.local")
    # The app-wide switch is measured on an app of its own, so `plain` stays plain.
    announced = Celery("bench.announced")
    install_outcome_signals(announced)
    for each in (local, announced):
        each.conf.update(dflock=dflock, broker_url="memory://", result_backend="cache+memory://")

    @announced.task(name="bench.announced_plain")
    def announced_plain() -> None:
        return None

    kinds = {**define_tasks(local), "undecorated, install_outcome_signals": announced_plain}
    samples: dict[str, list[float]] = {name: [] for name in kinds}
    for task in kinds.values():
        _apply_samples(task, 50)  # warm up: connections, tracers, imports
    for _ in range(ROUNDS):
        for name, task in kinds.items():
            samples[name] += _apply_samples(task, IN_PROCESS_RUNS // ROUNDS)
    close_clients()
    return samples


# -- through a worker ----------------------------------------------------------------------


def _redis_answers() -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except Exception:
        return False


def _broker_conf(folder: Path, queue: str) -> tuple[str, dict[str, Any]]:
    conf: dict[str, Any] = {"task_default_queue": queue, "worker_prefetch_multiplier": 1}
    if _redis_answers():
        conf.update(broker_url=REDIS_URL, result_backend=REDIS_URL, result_expires=300)
        return "Redis 127.0.0.1:6379", conf
    conf.update(filesystem_broker(folder, polling_interval_s=0.001))
    return "folder broker (kombu filesystem transport)", conf


def _start_worker(conf: dict[str, Any], address: str, prefix: str, log: Path) -> Any:
    env = {
        **os.environ,
        CONF_ENV: json.dumps(conf),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "DFLOCK_SERVERS": address,
        "DFLOCK_KEY_PREFIX": prefix,
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "bench.celery_bench",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        "1",
        "-Q",
        conf["task_default_queue"],
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "warning",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wall_per_task(task: Any, n: int) -> float:
    """Seconds per task for `n` tasks sent at once through a one-child worker."""
    started = time.perf_counter()
    results = [task.delay() for _ in range(n)]
    for result in results:
        result.get(timeout=120, interval=0.001)
    return (time.perf_counter() - started) / n


def run_worker(address: str) -> tuple[str, dict[str, list[float]]]:
    with tempfile.TemporaryDirectory(prefix="dflock-celery-bench-") as tmp:
        folder = Path(tmp)
        queue = f"dflock-bench-{uuid.uuid4().hex[:8]}"
        broker, conf = _broker_conf(folder, queue)
        app.conf.update(conf)
        worker = _start_worker(conf, address, f"benchw{uuid.uuid4().hex[:6]}.", folder / "log")
        try:
            if KINDS["undecorated"].delay().get(timeout=60) is not None:
                raise RuntimeError("the benchmark worker did not answer")
            per_task: dict[str, list[float]] = {name: [] for name in KINDS}
            for task in KINDS.values():
                _wall_per_task(task, 20)  # warm up the child's client and code paths
            for _ in range(WORKER_ROUNDS):
                for name, task in KINDS.items():
                    per_task[name].append(_wall_per_task(task, WORKER_TASKS))
        finally:
            worker.terminate()
            worker.wait(30)
    return broker, per_task


# -- report ------------------------------------------------------------------------------


def _in_process_table(samples: dict[str, list[float]]) -> list[str]:
    base = statistics.median(samples["undecorated"])
    base_announced = statistics.median(samples["undecorated, install_outcome_signals"])
    lines = [
        "| task | p50 µs | p99 µs | overhead vs undecorated, µs |",
        "|---|---:|---:|---:|",
    ]
    for name, values in samples.items():
        ordered = sorted(values)
        p50 = statistics.median(ordered)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        overhead = "—" if name == "undecorated" else f"{(p50 - base) * 1e6:,.0f}"
        lines.append(f"| {name} | {p50 * 1e6:,.0f} | {p99 * 1e6:,.0f} | {overhead} |")
    lines.append("")
    worst = max(statistics.median(v) - base for k, v in samples.items() if k.startswith("@"))
    lines.append(
        f"- largest decorator overhead: **{worst * 1e3:.2f} ms** per task (goal <= {GOAL_MS} ms)"
    )
    lines.append(
        f"- app-wide outcome signals on an undecorated task: "
        f"**{(base_announced - base) * 1e3:.2f} ms** per task (within noise when near zero: "
        "the task only queues its signal; a background thread sends it)"
    )
    return lines


def _worker_table(per_task: dict[str, list[float]]) -> list[str]:
    base = statistics.median(per_task["undecorated"])
    lines = [
        "| task | wall ms per task (median of rounds) | overhead vs undecorated, ms |",
        "|---|---:|---:|",
    ]
    for name, values in per_task.items():
        median = statistics.median(values)
        overhead = "—" if name == "undecorated" else f"{(median - base) * 1e3:.2f}"
        lines.append(f"| {name} | {median * 1e3:.2f} | {overhead} |")
    return lines


def report(progress: Callable[[str], None] = lambda _: None) -> str:
    with server_process() as address:
        progress("in process ...")
        in_process = run_in_process(address)
        progress("through a worker ...")
        broker, per_task = run_worker(address)
    lines = [
        "## Celery: per-task overhead of the decorators",
        "",
        "One `dflock serve` process on loopback; uncontended keys, so this is the cost of "
        "the machinery, not of waiting.",
        "",
        f"### In process: `task.apply()`, {IN_PROCESS_RUNS} runs per kind in {ROUNDS} "
        "interleaved rounds",
        "",
        "`apply()` runs Celery's tracer in this process; the difference from the undecorated "
        "task is the decorator's own cost: key, acquire, release and (unless `emit=False`) the "
        "outcome signal, each a round trip to the server.",
        "",
        *_in_process_table(in_process),
        "",
        f"### Through a worker: {WORKER_TASKS} tasks per kind, {WORKER_ROUNDS} interleaved rounds",
        "",
        f"A prefork worker with concurrency 1 on the {broker}; all tasks of a kind are sent "
        "at once and the wall time until the last result is divided by their number. Broker "
        "and result backend dominate; the difference is what the decorator adds.",
        "",
        *_worker_table(per_task),
    ]
    return "\n".join(lines)


def main() -> int:
    print(report(lambda step: print(step, file=sys.stderr, flush=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
