"""Django for the tests in this directory only.

Django is configured here, in `pytest_configure`, rather than through
DJANGO_SETTINGS_MODULE in pyproject: tests elsewhere run without Django set up,
and pytest-django leaves them alone while nothing is configured. Once this file is
loaded (whenever tests/django is collected), Django is configured for the rest of
the process; the other tests do not touch it.
"""

import socket
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for dflock_testsite


def pytest_configure(config):
    import django
    from django.conf import settings

    if not settings.configured:
        from dflock_testsite import settings as site

        settings.configure(**{name: getattr(site, name) for name in dir(site) if name.isupper()})
    django.setup()


@pytest.fixture
def client():
    """Django's test client (tests/conftest.py gives `client` another meaning)."""
    from django.test import Client

    return Client()


@pytest.fixture(autouse=True)
def dflock_site(settings, dflock_server, dflock_settings):
    """Point DFLOCK at the test server, with this test's own key prefix."""
    from dflock_testsite import settings as site

    settings.DFLOCK = {
        **site.DFLOCK,
        "SERVERS": [dflock_server.address],
        "KEY_PREFIX": dflock_settings.key_prefix,
        "SERVER_READ_TIMEOUT_S": dflock_settings.server_read_timeout_s,
        "CONNECT_TIMEOUT_S": 2.0,
    }
    return settings.DFLOCK


@pytest.fixture
def closed_address():
    """host:port where nothing listens (a port just released by the OS)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


class ServerThread:
    """A web server in a daemon thread; `url` once it accepts connections."""

    def __init__(self, url: str, stop, thread: threading.Thread) -> None:
        self.url = url
        self._stop = stop
        self._thread = thread

    def close(self) -> None:
        self._stop()
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            raise RuntimeError("the test web server did not stop within 10 s")


@pytest.fixture(scope="session")
def asgi_server():
    """Django's ASGI application under uvicorn, on a free 127.0.0.1 port."""
    import uvicorn
    from django.core.asgi import get_asgi_application

    from helpers import eventually_sync

    config = uvicorn.Config(
        get_asgi_application(), host="127.0.0.1", port=0, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-django", daemon=True)
    thread.start()
    eventually_sync(lambda: server.started or not thread.is_alive(), timeout_s=10, what="uvicorn")
    if not server.started:
        pytest.fail("uvicorn did not start; see the log above")
    port = server.servers[0].sockets[0].getsockname()[1]

    def stop():
        server.should_exit = True

    running = ServerThread(f"http://127.0.0.1:{port}", stop, thread)
    yield running
    running.close()


@pytest.fixture(scope="session")
def wsgi_server():
    """Django's WSGI application under a threading WSGI server, on a free port."""
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format, *args):
            pass

    httpd = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    httpd.set_app(get_wsgi_application())
    thread = threading.Thread(target=httpd.serve_forever, name="wsgi-django", daemon=True)
    thread.start()  # the socket is listening already: bound and listening in __init__

    def stop():
        httpd.shutdown()
        httpd.server_close()

    running = ServerThread(f"http://127.0.0.1:{httpd.server_address[1]}", stop, thread)
    yield running
    running.close()
