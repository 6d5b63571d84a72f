"""Shared by the tests of the example projects: `example_projects/stack.py`, paths, helpers.

`stack.py` is loaded from its file, without putting example_projects/ on sys.path:
the example's `celery_app` package must not shadow tests/celery/celery_app.py, and
nothing of the projects is imported into the test process.
"""

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "example_projects"


def _load_stack():
    name = "example_projects_stack"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / "stack.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


stack = _load_stack()


def using_redis() -> bool:
    """CI=true: the worker's broker is Redis, as everywhere else in the suite."""
    return os.environ.get("CI", "").lower() == "true"


def logs_of(running) -> str:
    """The last lines of every process's log, for a failure message."""
    return "\n".join(f"--- {c.name} ---\n{c.log_tail()}" for c in running.children)
