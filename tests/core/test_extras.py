"""Each adapter imported without its framework says which extra to install."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("adapter", "name", "extra"),
    [
        ("starlette", "Starlette", "fastapi"),
        ("fastapi", "FastAPI", "fastapi"),
        ("django", "Django", "django"),
        ("celery", "Celery", "celery"),
    ],
)
def test_an_adapter_without_its_framework_names_the_extra(adapter, name, extra):
    code = f"import sys; sys.modules[{adapter!r}] = None; import dflock_integrations.{adapter}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"ImportError: dflock_integrations.{adapter} needs {name}: "
        f"pip install dflock-integrations[{extra}]"
    )
    assert "During handling" not in result.stderr  # raised `from None`


@pytest.mark.parametrize(
    ("scheme", "package", "extra"), [("nats", "nats-py", "nats"), ("redis", "redis-py", "redis")]
)
def test_a_signal_broker_without_its_library_names_the_extra(scheme, package, extra):
    code = (
        f"import sys; sys.modules[{extra!r}] = None; "
        f"import dflock_integrations.client._brokers._{scheme}"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"ImportError: DFLOCK_SIGNALS_URL={scheme}://... needs {package}: "
        f"pip install dflock-integrations[{extra}]"
    )
    assert "During handling" not in result.stderr
