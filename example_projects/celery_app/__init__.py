"""The report worker of the example story: `celery -A celery_app worker` in example_projects/.

`celery -A celery_app` finds `app` here; the web app imports `generate_report` to queue runs.
"""

from celery_app.tasks import app, generate_report

__all__ = ["app", "generate_report"]
