"""A lease that is lost while held: `lost`, `on_lost` callbacks and LockLostError."""

import threading
import time

# --8<-- [start:lost]
from dflock_integrations import LockLostError, SyncDflockClient


def migrate(dflock: SyncDflockClient, steps: list) -> int:
    done = 0
    with dflock.lock("migration") as lock:
        lock.on_lost(lambda handle: print(f"lost {handle.name}: stopping"))
        for step in steps:
            if lock.lost:  # renewal failed: another process may hold the key now
                break
            step()
            done += 1
    return done  # not reached after a loss: leaving the block raised LockLostError


# --8<-- [end:lost]

if __name__ == "__main__":
    import contextlib
    import io

    from dflock_integrations.server import run_in_thread

    # A server of our own, stopped half-way through, stands in for a network failure.
    with run_in_thread() as server:
        # A 2 s lease is renewed every second: the loss is noticed within about 1 s.
        client = SyncDflockClient(servers=server.address, lease_ttl_s=2)
        calls: list[int] = []
        stopped = threading.Event()

        def step() -> None:
            calls.append(1)
            if len(calls) == 2:
                server.stop()
                stopped.set()
            time.sleep(0.5)

        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                migrate(client, [step] * 20)
        except LockLostError as exc:
            error = str(exc)
        else:
            raise AssertionError("the loss went unnoticed")
        assert "migration" in error, error
        assert printed.getvalue() == "lost migration: stopping\n", printed.getvalue()
        assert stopped.is_set() and len(calls) < 10, calls  # it stopped soon after the loss
        client.close()

    # Unbroken, it runs every step and releases.
    with SyncDflockClient() as dflock:
        assert migrate(dflock, [lambda: None] * 3) == 3
        with dflock.lock("migration", acquire_timeout_s=0) as again:
            assert again.held and not again.lost
    print("ok")
