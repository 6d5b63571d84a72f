"""`DflockServer`: the listening socket, its sessions, and the lease and GC sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

from typing_extensions import Self

from dflock_integrations.server._commands import LOCK_COMMANDS, SIGNAL_COMMANDS
from dflock_integrations.server._keyspace import FenceTokens, Keyspace, RandomTokens
from dflock_integrations.server._options import ServerConfig
from dflock_integrations.server._pubsub import PubSub
from dflock_integrations.server._session import Session

log = logging.getLogger("dflock_integrations.server")


class DflockServer:
    """A dflockd-compatible server on one asyncio loop.

    `await start()` binds (port 0 picks a free one, see `.port`), `await close()` stops
    accepting, closes every connection and waits for them within the shutdown timeout.
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.profile = self.config.profile
        self.token = self.config.token()
        self.keyspace = Keyspace(
            max_locks=self.config.max_locks,
            max_waiters=self.config.max_waiters,
            tokens=FenceTokens() if self.profile.fencing_tokens else RandomTokens(),
            separate_spaces=self.profile.separate_lock_and_semaphore_keys,
        )
        self.commands = LOCK_COMMANDS | {"ping"} if self.profile.ping else LOCK_COMMANDS
        if self.profile.signals:
            self.commands |= SIGNAL_COMMANDS
        self.draining = False
        self.pubsub = PubSub()
        self.sessions: set[Session] = set()
        self.host = self.config.host
        self.port = self.config.port
        self._server: asyncio.Server | None = None
        self._sweeps: list[asyncio.Task[None]] = []
        self._drained: asyncio.Event | None = None

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Session(self),
            self.config.host,
            self.config.port,
            ssl=self._tls_context(),
            backlog=4096,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweeps = [
            asyncio.create_task(
                self._every(self.config.lease_sweep_interval_s, self.keyspace.expire_due)
            ),
            asyncio.create_task(
                self._every(
                    self.config.gc_interval_s,
                    lambda: self.keyspace.collect_idle(self.config.gc_max_idle_s),
                )
            ),
        ]
        log.info(
            "dflock server listening on %s (auth %s, TLS %s, answering as %s%s)",
            self.address,
            "on" if self.token else "off",
            "on" if self.config.tls_cert else "off",
            "dflockd " + self.profile.name if self.profile.name != "default" else "default",
            f", follower of {self.config.follower_of or '(no leader)'}"
            if self.config.follower_of is not None
            else "",
        )

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        with contextlib.suppress(asyncio.CancelledError):
            await self._server.serve_forever()

    @property
    def cluster_view(self) -> dict[str, object] | None:
        """The `cluster` block a cluster member adds to stats, or None outside a cluster."""
        leader = self.config.follower_of
        if leader is None and not self.profile.cluster:
            return None
        view: dict[str, object] = {
            "node_id": f"embedded-{self.port}",
            "role": "leader" if leader is None else "follower",
            "term": 1,
            "leader_id": "" if leader is None else f"leader@{leader}",
        }
        if leader is None:
            view["leader_addr"] = self.address
        elif leader:
            view["leader_addr"] = leader
        return view

    async def close(self, *, drain: bool = False) -> None:
        """Stop. `drain` does what dflockd does on SIGTERM; otherwise connections close now.

        Draining: stop accepting, end blocked requests with `error`, then let clients
        finish (from v1.16 their next request is answered `error_draining` and their
        connection closed) until the shutdown timeout closes what is left.
        """
        for task in self._sweeps:
            task.cancel()
        if self._server is not None:
            self._server.close()
        self._drained = asyncio.Event()
        self.draining = True
        for session in list(self.sessions):
            session.stop_waiting()
            if not drain:
                session.close()
        if self.sessions:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drained.wait(), self.config.shutdown_timeout_s)
        for session in list(self.sessions):
            session.abort()
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- called by sessions ----------------------------------------------------------

    def admit(self, session: Session) -> bool:
        if self.config.max_connections and len(self.sessions) >= self.config.max_connections:
            return False
        self.sessions.add(session)
        return True

    def forget(self, session: Session) -> None:
        self.sessions.discard(session)
        self.keyspace.drop_owner(session.owner)
        for pattern, group in session.subscriptions:
            self.pubsub.remove(session, pattern, group)
        session.subscriptions.clear()
        if self._drained is not None and not self.sessions:
            self._drained.set()

    # -- internals -------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.config.tls_cert is None or self.config.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        return context

    @staticmethod
    async def _every(interval_s: float, job: object) -> None:
        assert callable(job)
        while True:
            await asyncio.sleep(interval_s)
            job()
