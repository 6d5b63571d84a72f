"""The optional packages, each imported only where it is needed.

    from dflock_integrations._extras import celery  # noqa: F401

gives the installed Celery, or, when it is missing, an ImportError naming the extra
that brings it (`pip install dflock-integrations[celery]`), `from None`. Each
adapter's `__init__` does this first, before its modules import the framework; the
signal brokers call `require` for nats-py and redis-py the same way.
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
    return require(module, f"dflock_integrations.{module}", name, extra)


def require(module: str, needed_by: str, package: str, extra: str) -> ModuleType:
    """`module`, imported; or an ImportError saying that `needed_by` needs `package` and
    which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{needed_by} needs {package}: pip install dflock-integrations[{extra}]"
        ) from None
