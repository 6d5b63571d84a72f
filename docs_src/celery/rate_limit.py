"""`@dflock_rate_limit`: a task's rate, global across every worker."""

from celery import Celery
from celery.signals import task_retry

from dflock_integrations.celery import dflock_rate_limit, is_skipped
from dflock_integrations.errors import RateLimited

app = Celery("rate_limit", broker="memory://")
app.conf.task_always_eager = True


# --8<-- [start:rate]
@app.task(max_retries=None)  # retried until a permit is had: none is dropped
@dflock_rate_limit("geocoder", "2/s")  # over budget: retried after the retry-after
def geocode(address):
    return f"geocoded {address}"


@app.task
@dflock_rate_limit("mailer:{account}", "100/m", on_limited="wait", acquire_timeout_s=30)
def send_mail(account, message_id):
    return "sent"  # waits its turn (FIFO) up to 30 s, then fails with RateLimited


@app.task
@dflock_rate_limit("crawler:{site}", "10/m", on_limited="skip")
def crawl(site):
    return "crawled"


# --8<-- [end:rate]


@app.task(max_retries=1)
@dflock_rate_limit("report-mail", "1/m")
def report_mail():
    return "sent"


if __name__ == "__main__":
    assert [geocode.delay(a).get() for a in ("a", "b")] == ["geocoded a", "geocoded b"]
    assert send_mail.delay("acme", 1).get() == "sent"
    for _ in range(10):
        assert crawl.delay("example.org").get() == "crawled"
    assert is_skipped(crawl.delay("example.org").get())

    countdowns = []
    task_retry.connect(lambda reason=None, **_: countdowns.append(reason.when), weak=False)
    assert report_mail.delay().get() == "sent"
    failed = report_mail.delay()  # over budget: retried (eagerly: at once), then failed
    assert isinstance(failed.result, RateLimited), failed.result
    assert 50 < countdowns[0] <= 60  # the retry-after: this process holds the minute's permit
    print("rate_limit: ok")
