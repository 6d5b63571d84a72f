"""A readiness file for Celery workers, the probe pattern Kubernetes users of Celery know.

    install_readiness_probe(app, "/tmp/dflock-ready")

    # the pod: readinessProbe (or livenessProbe): exec: [test, -f, /tmp/dflock-ready]

A consumer bootstep starts once the worker consumes from its broker; from then on a
thread of its own checks every `interval_s` that every dflock server answers within
`timeout_s`, writes the file (the answer as JSON, the time it was checked) while
they do and removes it while they do not, when the broker connection is lost, and
when the worker stops. The check runs beside the worker's event loop, never on it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from celery import bootsteps

from dflock_integrations.celery._config import build_settings, raw_conf
from dflock_integrations.errors import ConfigurationError
from dflock_integrations.health import Health, check_health

log = logging.getLogger("dflock_integrations.celery.readiness")


def install_readiness_probe(
    app: Any,
    path: str | os.PathLike[str],
    *,
    interval_s: float = 5.0,
    timeout_s: float | None = None,
) -> None:
    """Keep `path` present while `app`'s worker consumes and every dflock server answers
    within `timeout_s` (default `health_timeout_s`, 1 s); checked every `interval_s`."""
    if not interval_s > 0:
        raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
    options = {"path": Path(path), "interval_s": interval_s, "timeout_s": timeout_s}
    app.steps["consumer"].add(type("DflockReadiness", (DflockReadiness,), options))


class DflockReadiness(bootsteps.StartStopStep):  # type: ignore[misc]
    """The consumer step behind `install_readiness_probe` (its options are class attributes)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)  # started once tasks are consumed
    path: Path
    interval_s: float
    timeout_s: float | None

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, parent: Any) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._watch, args=(parent.app,), name="dflock-readiness", daemon=True
        )
        self._thread.start()

    def stop(self, parent: Any) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join((self.timeout_s or 60.0) + 1.0)
        self._remove()

    shutdown = stop

    def _watch(self, app: Any) -> None:
        was_ready: bool | None = None
        while not self._stop.is_set():
            health = self._check(app)
            if self._stop.is_set():
                break  # stopping meanwhile: the file must not come back
            if health.ready:
                self._write(health)
                if was_ready is not True:
                    log.info("dflock: the worker is ready (%s): %s", health.summary(), self.path)
            else:
                self._remove()
                if was_ready is not False:
                    log.warning("dflock: the worker is not ready: %s", health.summary())
            was_ready = health.ready
            self._stop.wait(self.interval_s)

    def _check(self, app: Any) -> Health:
        try:
            settings = build_settings(raw_conf(app))
        except ConfigurationError as exc:
            return Health(self.timeout_s or 0.0, error=str(exc))
        return check_health(settings, timeout_s=self.timeout_s)

    def _write(self, health: Health) -> None:
        answer = {**health.to_dict(), "checked_at": datetime.now(timezone.utc).isoformat()}
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            partial.write_text(json.dumps(answer) + "\n", encoding="utf-8")
            os.replace(partial, self.path)  # a probe sees the whole file or none
        except OSError as exc:
            log.error("dflock: cannot write the readiness file %s: %s", self.path, exc)

    def _remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
