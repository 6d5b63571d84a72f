"""One thread per sync client that renews every lease it holds, each when it falls due.

A thread per lease (as dflockd-client does) would cost a thread start on every
acquire; a single scheduler keeps the lock cycle cheap.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Protocol


class Renewable(Protocol):
    def renew_due(self) -> float | None:
        """Renew now; the delay until the next renewal, or None to stop."""
        ...


class Renewer:
    def __init__(self, name: str = "dflock-renewer") -> None:
        self._due: list[tuple[float, int, Renewable]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def schedule(self, lease: Renewable, delay_s: float) -> None:
        with self._wake:
            heapq.heappush(self._due, (time.monotonic() + delay_s, next(self._order), lease))
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._due or self._due[0][0] > time.monotonic()):
                    timeout = self._due[0][0] - time.monotonic() if self._due else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _, _, lease = heapq.heappop(self._due)
            delay = lease.renew_due()
            if delay is not None:
                self.schedule(lease, delay)
