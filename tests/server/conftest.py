import socket

import pytest


class Wire:
    """A raw protocol connection: three lines out, one line back."""

    def __init__(self, address: str, *, timeout: float = 5.0, sock: socket.socket | None = None):
        host, port = address.rsplit(":", 1)
        self.sock = sock or socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rb")

    def send(self, cmd: str, key: str = "_", arg: str = "") -> None:
        self.sock.sendall(f"{cmd}\n{key}\n{arg}\n".encode())

    def line(self) -> str:
        raw = self.file.readline()
        if not raw:
            raise ConnectionError("closed")
        return raw.decode().rstrip("\n")

    def ask(self, cmd: str, key: str = "_", arg: str = "") -> str:
        self.send(cmd, key, arg)
        return self.line()

    def closed_by_server(self) -> bool:
        try:
            return self.file.readline() == b""
        except OSError:
            return True

    def close(self) -> None:
        self.file.close()
        self.sock.close()


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
