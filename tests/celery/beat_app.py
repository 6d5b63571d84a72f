"""The Celery app the beat tests run: `celery -A beat_app beat -S ...` (tests/celery on PYTHONPATH).

Broker and queue come as JSON in DFLOCK_CELERY_TEST_CONF, the dflock settings from
DFLOCK_* variables, the beat's lease from BEAT_LEASE_S. One entry is due every
second; no worker runs its task: the tests read the messages beat sends.
With DJANGO_SETTINGS_MODULE set (beat_site), Django is set up for django-celery-beat.
"""

import json
import os

from celery import Celery

if os.environ.get("DJANGO_SETTINGS_MODULE"):
    import django

    django.setup()

CONF_ENV = "DFLOCK_CELERY_TEST_CONF"
PERIOD_S = 1.0

app = Celery("beat_app")
app.conf.update(json.loads(os.environ.get(CONF_ENV, "{}")))
app.conf.beat_schedule = {"every-second": {"task": "beat_app.slot", "schedule": PERIOD_S}}
app.conf.dflock_beat_lease_ttl_s = int(os.environ.get("BEAT_LEASE_S", "5"))


@app.task
def slot():
    """Never run: the tests count the messages."""
