"""`@dflock_semaphore`: at most `limit` runs at once, across every worker; stacking."""

from celery import Celery

from dflock_integrations.celery import (
    current_lease,
    current_leases,
    dflock_semaphore,
    get_client,
    is_skipped,
    single_instance,
)
from dflock_integrations.errors import LockTimeout

app = Celery("semaphore", broker="memory://")
app.conf.task_always_eager = True


# --8<-- [start:semaphore]
@app.task(max_retries=10)
@dflock_semaphore("pdf-render", limit=4)  # wait up to acquire_timeout_s, then retry in 5 s
def render_pdf(document_id):
    return current_lease().limit


@app.task
@dflock_semaphore("partner-api", limit=2, on_full="skip", acquire_timeout_s=0)
def poll_partner():
    return "polled"


# --8<-- [end:semaphore]


# --8<-- [start:stacked]
@app.task
@dflock_semaphore("pdf-render", limit=4)  # outer: acquired first, released last
@single_instance("document:{document_id}")  # inner: one run per document
def rerender(document_id):
    return [(lease.name, lease.limit) for lease in current_leases()]


# --8<-- [end:stacked]


@app.task(max_retries=1)
@dflock_semaphore("partner-api", limit=2, acquire_timeout_s=0.2, retry_countdown_s=0)
def call_partner():
    return "called"


if __name__ == "__main__":
    client = get_client(app)
    assert render_pdf.delay(1).get() == 4
    assert rerender.delay(9).get() == [("pdf-render", 4), ("document:9", None)]
    assert client.stats().find(client.settings.key_prefix + "pdf-render") is None

    # Both partner-api slots are taken elsewhere.
    taken = [client.semaphore("partner-api", limit=2) for _ in range(2)]
    for slot in taken:
        assert slot.acquire()
    assert is_skipped(poll_partner.delay().get())  # on_full="skip"
    failed = call_partner.delay()  # retried once, then fails
    assert isinstance(failed.result, LockTimeout) and failed.result.limit == 2, failed.result
    for slot in taken:
        # Confirmed, as the adapters release: the task below takes a slot at once
        # (acquire_timeout_s=0) and must not race a release still on its way.
        slot.release(wait=True)
    assert poll_partner.delay().get() == "polled"
    assert call_partner.delay().get() == "called"
    print("semaphore: ok")
