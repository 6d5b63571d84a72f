"""The auth token never reaches Django's error reports (debug page, admin emails)."""

import sys

import pytest
from django.test import RequestFactory, override_settings
from django.views.debug import ExceptionReporter

from dflock_integrations.django import conf
from dflock_integrations.errors import ConfigurationError

SECRET = "-".join(["hunter2", "django", "secret"])  # not literal: tracebacks show source


@override_settings(DFLOCK={"AUTH_TOKEN": SECRET, "LEASE_TTL_S": 0})
def test_bad_settings_error_report_hides_the_token():
    with pytest.raises(ConfigurationError) as info:
        conf.get_settings()
    assert SECRET not in str(info.value)
    request = RequestFactory().get("/")
    reporter = ExceptionReporter(request, info.type, info.value, info.tb)
    assert SECRET not in reporter.get_traceback_html()
    assert SECRET not in reporter.get_traceback_text()
    assert sys.exc_info() == (None, None, None)
