import pytest

from helpers import Wire


@pytest.fixture
def wire(dflock_server):
    """Open raw connections to the session server; closed after the test."""
    opened: list[Wire] = []

    def open_wire(address: str | None = None, **kwargs) -> Wire:
        connection = Wire(address or dflock_server.address, **kwargs)
        opened.append(connection)
        return connection

    yield open_wire
    for connection in opened:
        connection.close()


@pytest.fixture
def key(request):
    """A key no other test uses."""
    safe = "".join(c if c.isalnum() else "-" for c in request.node.name[:60])
    return f"{safe}-{id(request)}"
