"""Deprecated: moved to `dflock_integrations.testing.pytest_plugin`.

The fixtures come from the `pytest11` entry point, which now names the new module.
Listed as a plugin (`-p`, `pytest_plugins`, with plugin autoload off), this module
loads the new one.
"""

from dflock_integrations._deprecated import moved
from dflock_integrations.testing.pytest_plugin import TLSFiles, settings_for

__all__ = ["TLSFiles", "settings_for"]

pytest_plugins = ["dflock_integrations.testing.pytest_plugin"]

moved(__name__, "dflock_integrations.testing.pytest_plugin")
