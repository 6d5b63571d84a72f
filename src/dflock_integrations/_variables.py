"""Misspelled `DFLOCK_*` variables: an error at start-up, not a silent default.

pydantic-settings ignores a variable that matches no field, so `DFLOCK_SERVER=db:6388`
would leave the client on 127.0.0.1:6388 and every request failing later. Here an
unknown `DFLOCK_*` name that resembles a setting is an error naming that setting.
A name that resembles none may be someone else's (a script's, a later version's)
and is left alone.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dflock_integrations.errors import UnknownVariableError

log = logging.getLogger("dflock_integrations")

PREFIX = "DFLOCK_"

# DFLOCK_* names that are not settings of this version but are set on purpose; never
# reported. Add a name here when something else of this project reads one.
OTHER_VARIABLES = frozenset(
    {
        "PYTHON",  # ./dev: the interpreter to build .venv with
        "VENV",  # ./dev: the environment to build (.ci/run tests two Pythons)
        "TEST_FAILOVER",  # tests/celery/background.py: where the beat failover runs
        "TEST_UPSTREAM",  # tests/server/test_generations.py: real dflockd binaries
        "CHROMIUM",  # scripts/ensure_chromium.sh and the browser test
        "CHROMEDRIVER",
        "CELERY_TEST_CONF",  # tests/ and bench/: a Celery worker's configuration
        "CELERY_BENCH_CONF",
        # settings that other versions of the package read
        "SIGNALS_URL",
        "METRICS",
        "FENCING",
        "CLUSTER",
    }
)

# Names people guess that spelling alone does not lead to, with what to use instead.
_SERVERS = "did you mean DFLOCK_SERVERS (host:port[,host:port...])?"
GUESSES: Mapping[str, str] = {
    "HOST": _SERVERS,
    "HOSTS": _SERVERS,
    "PORT": _SERVERS,
    "ADDRESS": _SERVERS,
    "URL": _SERVERS,
    "TIMEOUT": "did you mean DFLOCK_ACQUIRE_TIMEOUT_S or DFLOCK_CONNECT_TIMEOUT_S?",
    "ENV_FILE": "dflock reads a .env file only when named: DflockSettings(_env_file=...)",
}
_CUTOFF = 0.6  # difflib similarity: catches SERVER, LEASE_TTL, TOKEN; not PYTHON or DEBUG


def check_variable_names(fields: Iterable[str], env_file: Any) -> None:
    """Raise UnknownVariableError for misspelt `DFLOCK_*` names in the environment or
    in `env_file` (a path, several paths, or None). Values are never shown."""
    known = {field.upper() for field in fields}
    found: dict[str, str] = {}  # the name as written -> where it was set
    for name in os.environ:
        if name.upper().startswith(PREFIX):
            found.setdefault(name, "set in the environment")
    for path in _paths(env_file):
        for name in _dotenv_names(path):
            found.setdefault(name, f"set in {path}")
    lines = []
    for name, where in found.items():
        hint = _suggestion(name, known)
        if hint is not None:
            lines.append(f"  {name}: not a dflock setting ({where}); {hint}")
    if lines:
        raise UnknownVariableError("\n".join(["invalid dflock settings:", *sorted(lines)]))


def _suggestion(name: str, known: set[str]) -> str | None:
    """What a misspelt name should be; None when it is a setting or not ours to judge."""
    upper = name.upper()
    if not upper.startswith(PREFIX):
        return None
    rest = upper[len(PREFIX) :]
    if rest in known or rest in OTHER_VARIABLES:
        return None
    if rest in GUESSES:
        return GUESSES[rest]
    close = difflib.get_close_matches(rest, sorted(known), n=1, cutoff=_CUTOFF)
    return f"did you mean {PREFIX}{close[0]}?" if close else None


def _paths(env_file: Any) -> list[Path]:
    if env_file is None:
        return []
    if isinstance(env_file, str | os.PathLike):
        return [Path(env_file)]
    return [Path(item) for item in env_file]


def _dotenv_names(path: Path) -> list[str]:
    if not path.is_file():
        return []  # pydantic-settings skips a missing file too
    from dotenv import dotenv_values  # pydantic-settings' own dependency

    return list(dotenv_values(path))


_unread_checked = False


def warn_about_unread_dotenv() -> None:
    """Once per process: say so when ./.env sets DFLOCK_* names the environment lacks.

    Earlier versions read ./.env by themselves; this points whoever relied on that at
    the explicit way, instead of leaving them on the defaults without a word.
    """
    global _unread_checked
    if _unread_checked:
        return
    _unread_checked = True
    missing = sorted(
        name
        for name in _dotenv_names(Path(".env"))
        if name.upper().startswith(PREFIX) and name not in os.environ
    )
    if missing:
        log.warning(
            "./.env sets %s, but dflock reads no .env file unless told to: export the "
            "variables, or pass DflockSettings(_env_file='.env')",
            ", ".join(missing),
        )
