"""A worker with the readiness probe: `celery -A probe_app worker` (tests/celery on PYTHONPATH).

Broker and queue come as JSON in DFLOCK_CELERY_TEST_CONF, the dflock settings from
DFLOCK_* variables, the file's path from PROBE_READY_FILE.
"""

import json
import os

from celery import Celery

from dflock_integrations.celery import install_readiness_probe

app = Celery("probe_app")
app.conf.update(json.loads(os.environ.get("DFLOCK_CELERY_TEST_CONF", "{}")))
install_readiness_probe(app, os.environ["PROBE_READY_FILE"], interval_s=0.2, timeout_s=0.5)
