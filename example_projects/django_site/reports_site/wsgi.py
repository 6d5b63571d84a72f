"""WSGI entry point of the example site (`manage.py runserver` uses it too)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reports_site.settings")

application = get_wsgi_application()
