"""Fencing: the resource refuses a write from a holder older than the last one it saw."""

# --8<-- [start:fenced]
import threading

from dflock_integrations import SyncDflockClient


class Store:
    """Stands in for your database: it keeps the highest fence next to the value."""

    def __init__(self) -> None:
        self.value, self.fence = None, -1
        self._lock = threading.Lock()

    def write(self, value: str, fence: int) -> None:
        with self._lock:  # in SQL: UPDATE ... SET value = ?, fence = ? WHERE fence < ?
            if fence <= self.fence:
                raise PermissionError(f"stale write refused: fence {fence} <= {self.fence}")
            self.value, self.fence = value, fence


store = Store()


def update_report(dflock: SyncDflockClient, value: str) -> None:
    with dflock.lock("report") as lock:
        ...  # a long computation; a GC pause here may outlast the lease
        assert lock.fence is not None  # fencing="on" below: never None here
        store.write(value, lock.fence)


# A store that relies on fences insists on them: with fencing="on" a server that
# issues none (dflockd before 2.1) is a ConfigurationError at the first lock,
# not a None fence at the first write.
dflock = SyncDflockClient(fencing="on")
# --8<-- [end:fenced]

if __name__ == "__main__":
    with dflock:
        update_report(dflock, "first")
        first_fence = store.fence
        update_report(dflock, "second")
        assert store.value == "second" and store.fence > first_fence  # fences only grow

        # A holder that was paused past its lease writes with the older fence: refused.
        try:
            store.write("from a paused holder", first_fence)
        except PermissionError:
            pass
        else:
            raise AssertionError("a stale fence was accepted")
        assert store.value == "second"

        # The fence is the first half of the token, as a number.
        with dflock.lock("report") as lock:
            assert lock.fence == int(lock.token[:16], 16), lock.token
    print("ok")
