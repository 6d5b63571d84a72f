"""`./dev bench`: run the benchmarks in one go and write docs/benchmarks.md."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from bench import client_bench, server_bench
from bench._harness import machine

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def main() -> int:
    sections = []
    for module in (server_bench, client_bench):
        print(f"running {module.__name__} ...", file=sys.stderr, flush=True)
        sections.append(module.report())
    text = "\n\n".join(
        [
            "# Benchmarks",
            f"Measured {datetime.date.today()} on {machine()}. Reproduce with `./dev bench` "
            "(`python -m bench`); FastAPI and Celery figures come from "
            "`python bench/fastapi_bench.py` and `python bench/celery_bench.py`.",
            "Figures move by 10-20 % between runs on this shared 2-core machine; ratios measured "
            "within one run, with interleaved rounds, are the stable part. The server runs in its "
            "own process and the load comes from this one.",
            *sections,
        ]
    )
    OUT.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
