"""`./dev bench`: run every benchmark in one go; write docs/benchmarks.md and its plot."""

from __future__ import annotations

import datetime
import statistics
import sys
from pathlib import Path

from bench import celery_bench, client_bench, fastapi_bench, server_bench, signals_bench
from bench._harness import machine
from bench._plot import bar_chart

DOCS = Path(__file__).resolve().parent.parent / "docs"
OUT = DOCS / "benchmarks.md"
PLOT = DOCS / "img" / "lock-cycle.svg"


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> int:
    progress("server under load ...")
    server = server_bench.report()
    progress("lock cycle vs peers ...")
    cycles = client_bench.measure()
    progress("FastAPI route latency ...")
    fastapi = fastapi_bench.report()
    progress("Celery overhead ...")
    celery = celery_bench.report(progress)
    progress("signals over NATS and Redis ...")
    signals = signals_bench.report()
    bars = [(name, statistics.median(values) * 1e6) for name, values in cycles["asyncio"].items()]
    PLOT.parent.mkdir(exist_ok=True)
    PLOT.write_text(
        bar_chart("One uncontended lock cycle, asyncio (p50, lower is better)", bars, "µs"),
        encoding="utf-8",
    )
    text = "\n\n".join(
        [
            "# Benchmarks",
            f"Measured {datetime.date.today()} on {machine()}. Reproduce everything on this "
            "page, plot included, with `./dev bench` (`python -m bench`). Each part also runs "
            "alone: `python -m bench.server_bench`, `python -m bench.client_bench`, "
            "`python bench/fastapi_bench.py`, `python bench/celery_bench.py`, "
            "`python -m bench.signals_bench`.",
            "Figures move by 10-20 % between runs on this shared 2-core machine; ratios measured "
            "within one run, with interleaved rounds, are the stable part. The server runs in its "
            "own process and the load comes from another.",
            server,
            client_bench.render(cycles),
            fastapi,
            celery,
            signals,
        ]
    )
    OUT.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
