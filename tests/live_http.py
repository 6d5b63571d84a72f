"""A live uvicorn in a thread, for tests outside tests/fastapi that need a real HTTP server."""

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 10.0


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """Serve `app` from a thread; yield its base URL once uvicorn says it has started."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,  # the OS picks a free port; read back below
        lifespan="on",
        log_config=None,  # leave logging to pytest
        timeout_graceful_shutdown=2,  # open event streams must not hold shutdown up
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn stopped during start-up; see the log above")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"uvicorn did not start within {STARTUP_TIMEOUT_S} s")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT_S)
        if thread.is_alive():
            raise RuntimeError(f"uvicorn did not stop within {SHUTDOWN_TIMEOUT_S} s")
