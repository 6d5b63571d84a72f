"""`run_in_thread()`: an embedded server on a free port, for tests and demos."""

# --8<-- [start:thread]
from dflock_integrations.server import run_in_thread

with run_in_thread(read_timeout_s=5) as server:
    print(server.address)  # 127.0.0.1:PORT
    # --8<-- [end:thread]
    import re

    from dflock_integrations import SyncDflockClient

    assert re.fullmatch(r"127\.0\.0\.1:\d+", server.address), server.address
    with SyncDflockClient(servers=server.address, server_read_timeout_s=5) as dflock:
        with dflock.lock("report") as lock:
            assert lock.held and lock.server == server.address
        dflock.ping()
assert not server.running  # stopped on leaving the block
print("ok")
