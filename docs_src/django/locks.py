"""Locks, semaphores and signals for code outside views: services, commands, tasks."""

# --8<-- [start:locks]
from dflock_integrations.django import alock, emit, lock, semaphore


def close_month(month):
    with lock(f"close-month:{month}", acquire_timeout_s=0):  # LockTimeout if running
        closed.append(month)


def render_pdf(invoice):
    with semaphore("pdf-render", limit=4) as slot:
        if slot.lost:
            return
        rendered.append(invoice)


async def sync_stock(sku):
    async with alock(f"stock:{sku}"):
        synced.append(sku)


def invoice_paid(invoice_id):
    emit("invoices.paid", {"id": invoice_id})  # a signal; listeners get it as JSON


# --8<-- [end:locks]

closed: list[str] = []
rendered: list[int] = []
synced: list[str] = []


if __name__ == "__main__":
    import asyncio
    import os

    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["dflock_integrations.django"],
        DFLOCK={"ACQUIRE_TIMEOUT_S": 2},  # servers and prefix from DFLOCK_* variables
    )
    django.setup()

    from django.core.management import call_command

    from dflock_integrations import LockTimeout, SyncDflockClient
    from dflock_integrations.django import get_client

    other = SyncDflockClient()  # another process
    close_month("2024-05")
    with other.lock("close-month:2024-06"):
        try:
            close_month("2024-06")
        except LockTimeout as exc:
            refused = exc.key
        else:
            raise AssertionError("the month was closed twice at once")
    assert refused == "close-month:2024-06", refused
    assert closed == ["2024-05"], closed

    render_pdf(1)
    asyncio.run(sync_stock("sku-1"))
    assert (rendered, synced) == ([1], ["sku-1"])

    # The same settings and the process's one client.
    assert get_client() is get_client()
    assert get_client().settings.key_prefix == os.environ["DFLOCK_KEY_PREFIX"]

    with other.listen("invoices.>") as listener:
        invoice_paid(42)
        signal = listener.get(timeout_s=5)
    assert signal is not None and signal.json() == {"id": 42}, signal

    # manage.py dflock_stats shows what is held, with the prefix.
    import io

    out = io.StringIO()
    with lock("invoice:7"), semaphore("reports", limit=3):
        call_command("dflock_stats", stdout=out)
    table = out.getvalue()
    print(table)
    prefix = os.environ["DFLOCK_KEY_PREFIX"]
    assert table.splitlines()[0].split()[:3] == ["SERVER", "KEY", "KIND"], table
    rows = {line.split()[1]: line.split()[2:4] for line in table.splitlines() if prefix in line}
    assert rows[f"{prefix}invoice:7"] == ["lock", "1/1"], rows
    assert rows[f"{prefix}reports"] == ["semaphore", "1/3"], rows
    other.close()
    print("ok")
