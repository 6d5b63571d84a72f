"""Rate limits that hold across every process: `client.rate_limiter(key, "5/s")`.

dflockd has no rate-limit command, so a limit of n per period is a semaphore of n
slots whose every grant has a lease of one period and is never released: an
admission occupies a slot for exactly one period, so no window of that length admits
more than n, across every process that shares the key. A grant that finds the slots
full waits in FIFO order behind the requests already waiting.

The granted slots are parked on connections this client keeps open (pinged before the
server's idle limit) until their period ends; then the connections go back to the
pool. If a process dies, or the server drops a connection, its parked slots end
early: until their period would have ended, the key may admit that many more.

The async limiter is the source; the sync one runs it on the sync client's loop thread.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._async._connection import AsyncConnection
from dflock_integrations.client._async._pool import AsyncPool
from dflock_integrations.client._failures import no_answer
from dflock_integrations.client._timing import ANSWER_GRACE_S, Deadline, wire_timeout
from dflock_integrations.errors import LimitMismatchError, RateLimited, refusal

if TYPE_CHECKING:
    from dflock_integrations.client._async._client import AsyncDflockClient
    from dflock_integrations.client._sync._client import SyncDflockClient

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*")


@dataclass(frozen=True)
class Rate:
    """`count` admissions per `period_s` seconds."""

    count: int
    period_s: int

    @classmethod
    def parse(cls, text: str | Rate) -> Rate:
        """`"5/s"`, `"100/m"`, `"1000/h"`, `"10/d"`, or with a multiple: `"10/30s"`."""
        if isinstance(text, Rate):
            return text
        match = _RATE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(
                f"rate {text!r}: expected COUNT/UNIT or COUNT/NUMBER-UNIT with a unit of s, m, "
                "h or d, such as '5/s', '100/m', '1000/h' or '10/30s'"
            )
        count, multiple, unit = int(match[1]), int(match[2] or 1), match[3]
        if count < 1 or multiple < 1:
            raise ValueError(f"rate {text!r}: the count and the period must be at least 1")
        return cls(count, multiple * _UNITS[unit])

    def __str__(self) -> str:
        return f"{self.count}/{self.period_s}s"


class AsyncRateLimiter:
    """At most `rate.count` admissions per `rate.period_s` for `key`, across processes."""

    def __init__(
        self,
        client: AsyncDflockClient,
        name: str,
        key: str,
        rate: Rate,
        *,
        acquire_timeout_s: float,
    ) -> None:
        self.name = name
        self.key = key
        self.rate = rate
        self.acquire_timeout_s = acquire_timeout_s
        self._client = client
        self.metric_name = ""  # set by the client when metrics are on
        self._lane: AsyncConnection | None = None  # parks our grants; takes try_acquire
        self._parked: list[float] = []  # when each of our admissions ends (monotonic)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.rate.count}/{self.rate.period_s}s>"

    @property
    def retry_after_s(self) -> float:
        """When an admission may likely be had again: exactly, when this process holds all
        the slots; else the mean gap between admissions at the full rate."""
        now = time.monotonic()
        self._parked = [end for end in self._parked if end > now]
        if len(self._parked) >= self.rate.count:
            return min(self._parked) - now
        return self.rate.period_s / self.rate.count

    async def try_acquire(self) -> bool:
        """An admission now, or False (without waiting, and without jumping the queue)."""
        keeper = self._client._keeper
        lane = self._lane
        if lane is None or not keeper.parked(lane):
            pool = self._client._pool(self._client._router.home(self.key))
            lane = self._lane = await pool.checkout(Deadline(self._patience))
        else:
            pool = None  # parked already: the keeper knows its pool
        # The lane stays ours for a period after its last use, then goes back to the pool.
        keeper.park(lane, pool, time.monotonic() + self.rate.period_s)
        started = time.monotonic()
        try:
            answer = await lane.exchange(self._request(0), protocol.GRANT, self._patience)
        except TimeoutError:
            self._report(started, "error", lane.server)
            raise no_answer(lane.server, self._patience) from None
        admitted = self._answered(answer, lane, None)
        self._report(started, "admitted" if admitted else "timeout", lane.server)
        return admitted

    def _report(self, started: float, outcome: str, server: str) -> None:
        metrics = self._client._metrics
        if metrics.enabled:
            waited = time.monotonic() - started
            metrics.waited("rate_limit", self.metric_name, server, waited, outcome)

    async def acquire(self, timeout_s: float | None = None) -> None:
        """An admission, waiting up to `timeout_s` in FIFO order; RateLimited else."""
        timeout = self.acquire_timeout_s if timeout_s is None else timeout_s
        if await self.try_acquire():
            return
        if timeout == 0:
            raise self._limited(timeout)
        # Wait on a connection of its own: a wait blocks its connection, and the grant
        # stays with it. That connection is parked in turn until the grant ends.
        whole, cut = wire_timeout(timeout)
        try:
            conn, pool, answer = await self._client._router.exchange(
                self.key,
                self._request(whole),
                protocol.GRANT,
                Deadline(timeout + ANSWER_GRACE_S),
                answer_within=whole + ANSWER_GRACE_S if cut is None else cut,
            )
        except TimeoutError:
            if cut is not None:
                raise self._limited(timeout) from None
            raise no_answer(str(self._client._router.home(self.key)), timeout) from None
        if isinstance(answer, protocol.Granted):
            self._client._keeper.park(conn, pool, self._admit())
            return
        pool.checkin(conn)
        if self._answered(answer, conn, pool):
            return
        raise self._limited(timeout)

    def _request(self, timeout_s: int) -> bytes:
        return protocol.acquire(self.key, timeout_s, self.rate.period_s, self.rate.count)

    def _answered(self, answer: Any, conn: AsyncConnection, pool: AsyncPool | None) -> bool:
        if isinstance(answer, protocol.Granted):
            self._client._keeper.park(conn, pool, self._admit())
            return True
        if isinstance(answer, protocol.TimedOut):
            return False
        status = getattr(answer, "status", "error")
        if status == "error_limit_mismatch":
            raise LimitMismatchError(
                f"rate limit key {self.name!r} is in use with another rate than "
                f"{self.rate.count} per {self.rate.period_s} s at dflockd {conn.server} (or as "
                "a semaphore of another limit); every user of a key must agree on its rate"
            )
        raise refusal(status, key=self.name, server=conn.server)

    def _admit(self) -> float:
        end = time.monotonic() + self.rate.period_s
        self._parked.append(end)
        if len(self._parked) > self.rate.count:
            del self._parked[0]
        return end

    def _limited(self, timeout_s: float) -> RateLimited:
        retry = self.retry_after_s
        return RateLimited(
            f"rate limit {self.name!r} ({self.rate.count} per {self.rate.period_s} s) reached; "
            f"retry in about {retry:.3g} s",
            key=self.name,
            timeout_s=timeout_s,
            retry_after_s=retry,
        )

    @property
    def _patience(self) -> float:
        return self._client.settings.connect_timeout_s


class SyncRateLimiter:
    """The sync client's rate limiter: the async one, run on the client's loop thread
    (whose connections park the grants), so the logic exists once."""

    def __init__(
        self,
        client: SyncDflockClient,
        name: str,
        key: str,
        rate: Rate,
        *,
        acquire_timeout_s: float,
    ) -> None:
        self._portal = client._keeper.portal()
        self._limiter = AsyncRateLimiter(
            client._keeper.async_twin(), name, key, rate, acquire_timeout_s=acquire_timeout_s
        )
        self.name, self.key, self.rate = name, key, rate

    def __repr__(self) -> str:
        return repr(self._limiter).replace("Async", "Sync", 1)

    @property
    def metric_name(self) -> str:
        return self._limiter.metric_name

    @metric_name.setter
    def metric_name(self, name: str) -> None:
        # The client labels what it returns; the async limiter is the one that reports.
        self._limiter.metric_name = name

    @property
    def retry_after_s(self) -> float:
        return self._limiter.retry_after_s

    def try_acquire(self) -> bool:
        admitted: bool = self._portal.call(self._limiter.try_acquire())
        return admitted

    def acquire(self, timeout_s: float | None = None) -> None:
        self._portal.call(self._limiter.acquire(timeout_s))
