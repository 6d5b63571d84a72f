"""Where the reports queue lives: a folder by default, a real broker when one is named.

- `CELERY_BROKER_URL` set (e.g. `redis://127.0.0.1:6379/0`): that broker, with results in
  `CELERY_RESULT_BACKEND`, or the same URL.
- Otherwise a folder broker (`dflock_integrations.testing.filesystem_broker`, kombu's
  filesystem transport without its partial-write race) in `REPORTS_BROKER_DIR` (default: `.broker/`
  next to this file). Nothing to install, and every process on this machine pointing at
  the same folder shares the queue: the web app queues, the worker consumes.

`REPORTS_QUEUE` names the queue (default `reports`); the worker consumes it by default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dflock_integrations.testing.filesystem_broker import filesystem_broker

DEFAULT_BROKER_DIR = Path(__file__).resolve().parent / ".broker"
POLLING_INTERVAL_S = 0.05  # seconds between two looks at the message folder


def celery_config(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """`app.conf` keys for the broker, the result backend and the queue."""
    conf: dict[str, Any] = {
        "task_default_queue": environ.get("REPORTS_QUEUE", "reports"),
        # One message per worker process at a time: a free process takes the next report.
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "result_expires": 3600,  # one hour, in seconds
    }
    url = environ.get("CELERY_BROKER_URL")
    if url:
        conf.update(broker_url=url, result_backend=environ.get("CELERY_RESULT_BACKEND", url))
        return conf
    root = Path(environ.get("REPORTS_BROKER_DIR") or DEFAULT_BROKER_DIR)
    conf.update(filesystem_broker(root, polling_interval_s=POLLING_INTERVAL_S))
    return conf
