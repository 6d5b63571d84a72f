"""The frameworks the adapters need, each imported only by its own adapter.

    from dflock_integrations._extras import celery  # noqa: F401

gives the installed Celery, or, when it is missing, an ImportError naming the extra
that brings it (`pip install dflock-integrations[celery]`), `from None`. Each
adapter's `__init__` does this first, before its modules import the framework.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# framework module -> (its name, the extra that installs it); the adapter has its name.
_EXTRAS = {
    "starlette": ("Starlette", "fastapi"),
    "fastapi": ("FastAPI", "fastapi"),
    "django": ("Django", "django"),
    "celery": ("Celery", "celery"),
}


def __getattr__(module: str) -> ModuleType:
    if module not in _EXTRAS:
        raise AttributeError(f"module {__name__!r} has no attribute {module!r}")
    name, extra = _EXTRAS[module]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"dflock_integrations.{module} needs {name}: pip install dflock-integrations[{extra}]"
        ) from None
