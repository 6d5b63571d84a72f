"""Fences: the grant counter in a token's first 16 hex digits, handed out only when real.

dflockd v2.1 (and the cluster mode) put a counter that rises with every grant in the
first half of each token; older servers issue 32 random hex digits, whose first half
would make a store accept stale writes and refuse good ones. So a fence is given out
only when this client knows the server issues them (`DFLOCK_FENCING`):

- `off`: never.
- `auto` (default): after a probe on the first connection to a server: a few grants
  of a huge semaphore, pipelined in one round trip. Fences from one connection must
  rise strictly, and a v2.1 counter starts from the wall clock in nanoseconds (a
  cluster's from 1), so random tokens pass that test about once in a billion.
  A connection is handed out only once its server is judged.
- `on`: fences are required; a server without them is a ConfigurationError.

Independently, a lock never hands out a fence lower than one this client handed
out before for the same key (a server restarted with its clock set back, a key moved
to another shard): it hands out None instead and logs why.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict
from typing import Final

from dflock_integrations import _protocol as protocol
from dflock_integrations.errors import ConfigurationError

log = logging.getLogger("dflock_integrations")

PROBE_KEY: Final = "_dflock.fence-probe"
PROBE_LIMIT: Final = 65_536  # every client uses this limit: the key never fills up
PROBE_GRANTS: Final = 4
PROBE_LEASE_S: Final = 5
KEY_MEMORY: Final = 10_000  # keys whose last fence is remembered, most recent first
_EARLIEST_NS: Final = 1_420_070_400 * 10**9  # 2015-01-01, before any dflockd existed
_DAY_NS: Final = 86_400 * 10**9

UNKNOWN, FENCES, RANDOM = "unknown", "fences", "random"


def plausible_fence(token: str) -> int | None:
    """The token's counter if it could be one a fencing server issued, else None."""
    if len(token) != 32:
        return None
    try:
        value = int(token[:16], 16)
    except ValueError:
        return None
    if 1 <= value < 2**48:  # a cluster's replicated counter, counting from 1
        return value
    if _EARLIEST_NS <= value <= time.time_ns() + _DAY_NS:  # v2.1: seeded from the clock
        return value
    return None


class Fencing:
    """What this client knows about each server's tokens, and the fences it handed out."""

    def __init__(self, mode: str, *, cluster: bool, key_prefix: str) -> None:
        self.mode = mode
        self.probe_key = key_prefix + PROBE_KEY
        self._cluster = cluster  # a cluster's members share one counter
        self._verdicts: dict[str, str] = {}
        self._last: OrderedDict[str, int] = OrderedDict()
        self._guard = threading.Lock()  # sync clients decide from several threads

    def reset_lock(self) -> None:
        self._guard = threading.Lock()

    def _group(self, server: str) -> str:
        return "cluster" if self._cluster else server

    def start_probe(self, server: str) -> list[bytes]:
        """The probe's requests while `server` is not judged yet.

        Every connection opened before the verdict probes on its own (a burst of first
        requests costs a few extra grants, once): waiting for another connection's
        probe would need a lock of each kind, and a grant made before any verdict
        would have to go without a fence.
        """
        if self.mode == "off" or self._verdicts.get(self._group(server), UNKNOWN) != UNKNOWN:
            return []
        grant = protocol.acquire(self.probe_key, 0, PROBE_LEASE_S, PROBE_LIMIT)
        return [grant] * PROBE_GRANTS

    def judge(self, server: str, answers: list[protocol.Answer]) -> list[bytes]:
        """Record the verdict from the probe's answers; the releases to send back."""
        tokens = [a.token for a in answers if isinstance(a, protocol.Granted)]
        releases = [protocol.release(self.probe_key, t, PROBE_LIMIT) for t in tokens]
        values = [plausible_fence(t) for t in tokens]
        if len(tokens) < PROBE_GRANTS:
            verdict = UNKNOWN  # refused (a follower, draining): judge on a later connection
        elif all(v is not None for v in values) and all(
            a < b for a, b in itertools.pairwise(v for v in values if v is not None)
        ):
            verdict = FENCES
        else:
            verdict = RANDOM
        with self._guard:
            self._verdicts[self._group(server)] = verdict
        if verdict != UNKNOWN:
            log.debug("dflock: %s issues %s tokens", server, verdict)
        return releases

    def fence(self, server: str, key: str, token: str, *, exclusive: bool) -> int | None:
        """The fence to hand out with this grant, or None."""
        if self.mode == "off":
            return None
        group = self._group(server)
        verdict = self._verdicts.get(group, UNKNOWN)
        if self.mode == "on" and verdict == RANDOM:
            raise ConfigurationError(
                f"DFLOCK_FENCING=on, but dflockd at {server} issues tokens without fences; "
                "dflockd 2.1 and newer issue them (or set DFLOCK_FENCING=auto)"
            )
        if self.mode == "auto" and verdict != FENCES:
            return None
        value = plausible_fence(token)
        if value is None:
            if self.mode == "on":
                raise ConfigurationError(
                    f"DFLOCK_FENCING=on, but dflockd at {server} granted {key!r} a token "
                    "without a fence"
                )
            with self._guard:
                self._verdicts[group] = UNKNOWN  # judged again on the next new connection
            log.warning("dflock: %s issued a token without a fence; fences paused", server)
            return None
        if not exclusive:
            return value  # semaphore slots overlap: their fences need not rise per key
        with self._guard:
            last = self._last.get(key)
            if last is not None and value <= last:
                log.warning(
                    "dflock: the fence for %r went down (%d after %d): the server's counter "
                    "was reset or the key moved; this grant carries no fence",
                    key,
                    value,
                    last,
                )
                return None
            self._last[key] = value
            self._last.move_to_end(key)
            if len(self._last) > KEY_MEMORY:
                self._last.popitem(last=False)
        return value
