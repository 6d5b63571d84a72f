"""Sends outcome signals from a thread of their own, so no task waits for one.

A signal is a notification: a task that ended should not spend a round trip on
it, nor hang on a dflock server that stopped answering (each emit may wait up to
DFLOCK_CONNECT_TIMEOUT_S). Signals queue in order, one sender thread per process
(started again after a fork), at most MAX_PENDING at a time; a full queue drops
with a warning. A worker child flushes the queue before it exits, any other
process at interpreter exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from typing import Any, Final

from celery.signals import worker_process_shutdown, worker_shutdown

from dflock_integrations.client import SyncDflockClient
from dflock_integrations.errors import SignalsUnsupported

log = logging.getLogger("dflock_integrations.celery")

MAX_PENDING: Final = 10_000
FLUSH_TIMEOUT_S: Final = 5.0

# (client, channel, body), or an event to set once everything before it was sent.
_Item = tuple[SyncDflockClient, str, dict[str, object]] | threading.Event


class OutcomeSender:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._queue: queue.Queue[_Item] = queue.Queue(MAX_PENDING)
        self._unsupported: set[int] = set()  # clients whose server has no signals

    def submit(self, client: SyncDflockClient, channel: str, body: dict[str, object]) -> None:
        """Queue one signal; never blocks, never raises."""
        try:
            self._queue_here().put_nowait((client, channel, body))
        except queue.Full:
            log.warning(
                "dflock outcome signal %s for task %s dropped: %d signals wait to be sent",
                channel,
                body.get("task_id"),
                MAX_PENDING,
            )

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> bool:
        """Wait until every signal queued so far was sent (or failed); False on timeout."""
        if self._pid != os.getpid():
            return True  # nothing was queued in this process
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout_s)
        except queue.Full:
            return False
        return done.wait(timeout_s)

    def _queue_here(self) -> queue.Queue[_Item]:
        """This process's queue, with its sender thread running (a fork copies neither)."""
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    self._queue = queue.Queue(MAX_PENDING)
                    self._unsupported = set()
                    threading.Thread(
                        target=self._run, args=(self._queue,), name="dflock-outcomes", daemon=True
                    ).start()
                    _flush_at_exit()
                    self._pid = pid
        return self._queue

    def _run(self, pending: queue.Queue[_Item]) -> None:
        while True:
            item = pending.get()
            if isinstance(item, threading.Event):
                item.set()
            else:
                self._send(*item)

    def _send(self, client: SyncDflockClient, channel: str, body: dict[str, object]) -> None:
        if id(client) in self._unsupported:
            return
        try:
            client.emit(channel, body)
        except SignalsUnsupported as exc:
            self._unsupported.add(id(client))
            log.warning("dflock outcome signals are off for this process: %s", exc)
        except Exception as exc:
            log.warning(
                "dflock outcome signal %s for task %s not sent: %r", channel, body["task_id"], exc
            )


sender = OutcomeSender()


def _fresh_lock_in_child() -> None:
    # The worker forks replacement children while its own sender thread may hold the
    # lock; the child must not inherit it held.
    sender._lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock_in_child)


def flush_outcome_signals(timeout_s: float = FLUSH_TIMEOUT_S) -> bool:
    """Wait until this process's queued outcome signals are sent; False on timeout.

    Workers and interpreters flush on their way out by themselves; call it where a
    process ends otherwise (`os._exit`) or where a test reads what was sent.
    """
    return sender.flush(timeout_s)


def _on_shutdown(**_: Any) -> None:
    sender.flush()


def _flush_at_exit() -> None:
    # A prefork child leaves through os._exit, after worker_process_shutdown; other
    # processes run atexit. Registered where the sender thread starts, once per process.
    worker_process_shutdown.connect(_on_shutdown, weak=False, dispatch_uid="dflock.celery.flush")
    worker_shutdown.connect(_on_shutdown, weak=False, dispatch_uid="dflock.celery.flush")
    atexit.register(sender.flush)
