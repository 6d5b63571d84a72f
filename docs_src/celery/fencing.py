"""Fencing tokens and `ensure_held()`: protect writes from a run that lost its lease."""

import sqlite3

from celery import Celery

from dflock_integrations.celery import current_lease, ensure_held, single_instance

app = Celery("fencing", broker="memory://")
app.conf.task_always_eager = True

db = sqlite3.connect(":memory:", check_same_thread=False)
db.execute("CREATE TABLE balance (account TEXT PRIMARY KEY, amount INTEGER, fence INTEGER)")
db.execute("INSERT INTO balance VALUES ('acme', 0, 0)")


# --8<-- [start:fenced]
def write_balance(account, amount, fence):
    """Store the amount unless a newer holder of the lock already wrote."""
    with db:
        updated = db.execute(
            "UPDATE balance SET amount = ?, fence = ? WHERE account = ? AND fence < ?",
            (amount, fence, account, fence),
        ).rowcount
    if not updated:
        raise RuntimeError(f"stale write to {account} refused (fence {fence})")


@app.task
@single_instance("balance:{account}", on_locked="wait")
def recompute_balance(account):
    amount = 42  # ... a long computation ...
    ensure_held()  # raises LockLostError now if the lease was lost meanwhile
    fence = current_lease().fence
    write_balance(account, amount, fence)
    return fence


# --8<-- [end:fenced]

if __name__ == "__main__":
    first = recompute_balance.delay("acme").get()
    second = recompute_balance.delay("acme").get()
    assert isinstance(first, int)
    assert second > first, "every grant carries a larger fence"
    # A paused run that still thinks it holds the first grant is refused.
    try:
        write_balance("acme", 13, first)
    except RuntimeError:
        pass
    else:
        raise AssertionError("a stale fence was accepted")
    assert db.execute("SELECT amount, fence FROM balance").fetchone() == (42, second)
    print("fencing: ok")
