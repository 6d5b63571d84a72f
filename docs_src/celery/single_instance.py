"""`@single_instance`: one running instance per key, whoever sent the task."""

# --8<-- [start:app]
from celery import Celery

from dflock_integrations.celery import current_lease, get_client, single_instance

app = Celery("single_instance", broker="memory://")
app.conf.task_always_eager = True  # this example runs its tasks in-process
# Servers, token and key prefix come from DFLOCK_* variables; app.conf.dflock overrides them.
app.conf.dflock = {"lease_ttl_s": 60, "acquire_timeout_s": 5}
# --8<-- [end:app]


# --8<-- [start:tasks]
@app.task(bind=True)
@single_instance("report:{report_id}")  # on_locked="skip" by default
def build_report(self, report_id):
    return f"report {report_id} built by {self.request.id}"


@app.task
@single_instance()  # no key: the task's name, one run at a time in the whole cluster
def nightly_cleanup():
    return current_lease().name


@app.task
@single_instance("export:{account}:{fmt}:{note}")  # defaults and **kwargs fill it too
def export(account, fmt="csv", **options):
    return current_lease().name


@app.task
@single_instance(lambda order_id, **_: f"order:{order_id % 100}")  # any function
def ship(order_id, express=False):
    return current_lease().name


# --8<-- [end:tasks]


def held(client, key):
    return client.stats().find(client.settings.key_prefix + key) is not None


if __name__ == "__main__":
    from dflock_integrations.celery import is_skipped

    client = get_client(app)
    assert client.settings.lease_ttl_s == 60  # app.conf.dflock won over the default

    assert build_report.delay(7).get().startswith("report 7 built by ")
    assert not held(client, "report:7"), "the lock outlived the task"

    # Another run holds report:7: this one is skipped, and says so.
    with client.lock("report:7"):
        assert is_skipped(build_report.delay(7).get())
        assert build_report.delay(8).get() is not None  # other keys are free

    assert nightly_cleanup.delay().get() == "single_instance.nightly_cleanup"
    assert export.delay("acme", note="q3 final").get() == "export:acme:csv:q3%20final"
    assert export.delay(account="acme", fmt="xlsx", note="x").get() == "export:acme:xlsx:x"
    assert ship.delay(1234, express=True).get() == "order:34"
    print("single_instance: ok")
