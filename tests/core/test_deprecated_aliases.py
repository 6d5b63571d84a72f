"""Modules moved in the layered layout stay importable at their old paths for one
release, with a DeprecationWarning that names where they went."""

import importlib
import sys

import pytest

ALIASES = [
    # (old module, new module, a name users import, what the warning advises)
    ("dflock_integrations.http_answers", "dflock_integrations._http.answers", "HttpAnswer",
     "dflock_integrations.fastapi, .starlette or .django"),
    ("dflock_integrations.rules", "dflock_integrations._http.rules", "Rule",
     "dflock_integrations.fastapi, .starlette or .django"),
    ("dflock_integrations.exit_codes", "dflock_integrations.cli.exit_codes", "exit_code_for",
     "dflock_integrations.cli.exit_codes"),
    ("dflock_integrations.stats_table", "dflock_integrations.cli.stats_table", "render_stats",
     "dflock_integrations.cli.stats_table"),
    ("dflock_integrations.pytest_plugin", "dflock_integrations.testing.pytest_plugin",
     "settings_for", "dflock_integrations.testing.pytest_plugin"),
    ("dflock_integrations.celery.filesystem_broker",
     "dflock_integrations.testing.filesystem_broker", "filesystem_broker",
     "dflock_integrations.testing.filesystem_broker"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "name", "advice"), ALIASES)
def test_an_old_path_warns_and_gives_the_same_objects(monkeypatch, old, new, name, advice):
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated.*{advice}"):
        alias = importlib.import_module(old)
    moved = importlib.import_module(new)
    assert getattr(alias, name) is getattr(moved, name)
    for exported in alias.__all__:
        assert getattr(alias, exported) is getattr(moved, exported)


def test_the_old_plugin_path_loads_the_new_plugin():
    """Listed by name (`-p`, `pytest_plugins`) where plugin autoload is off, the old
    module brings the fixtures with it."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        alias = importlib.import_module("dflock_integrations.pytest_plugin")
    assert alias.pytest_plugins == ["dflock_integrations.testing.pytest_plugin"]


def test_the_pytest11_entry_point_names_the_new_plugin():
    from importlib.metadata import entry_points

    (plugin,) = entry_points(group="pytest11", name="dflock")
    assert plugin.value == "dflock_integrations.testing.pytest_plugin"
