"""`@dflock_multilock`: report tasks share an index, its rebuild needs it alone."""

from celery import Celery

from dflock_integrations import LockMode
from dflock_integrations.celery import current_lease, dflock_multilock, get_client, is_skipped

app = Celery("multilock", broker="memory://")
app.conf.task_always_eager = True


# --8<-- [start:multilock]
@app.task(max_retries=10)
@dflock_multilock("index:{catalog}", max_shared=8, mode="shared")
def report(catalog, query):
    return current_lease().mode  # LockMode.SHARED: up to 8 reports at once


@app.task(max_retries=10)
@dflock_multilock("index:{catalog}", max_shared=8, mode=LockMode.EXCLUSIVE, acquire_timeout_s=60)
def rebuild_index(catalog):
    return "rebuilt"  # alone: no report runs meanwhile, and later reports wait for it


# --8<-- [end:multilock]


@app.task
@dflock_multilock("index:{catalog}", max_shared=8, mode="exclusive", on_busy="skip",
                  acquire_timeout_s=0)  # fmt: skip
def rebuild_if_idle(catalog):
    return "rebuilt"


if __name__ == "__main__":
    client = get_client(app)
    assert report.delay("books", "q").get() is LockMode.SHARED
    index = client.multilock("index:books", max_shared=8)
    with index.shared():  # a report elsewhere reads the index
        assert report.delay("books", "q").get() is LockMode.SHARED  # shares it
        assert is_skipped(rebuild_if_idle.delay("books").get())  # a report holds it
    assert rebuild_index.delay("books").get() == "rebuilt"
    assert index.mode() is None  # every run gave its hold back
    print("multilock: ok")
