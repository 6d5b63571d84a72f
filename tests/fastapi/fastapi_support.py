"""Shared by the FastAPI/Starlette tests: live uvicorn, dflock server views, raw sockets."""

import asyncio
import contextlib

import httpx

from live_http import serve as run_uvicorn  # noqa: F401  (the FastAPI tests import it from here)


async def stats_entry(client, key: str) -> dict | None:
    """The server's entry for `key` (the test's prefix added), or None when nobody holds it."""
    return (await client.stats()).find(client.settings.key_prefix + key)


async def waiters(client, key: str) -> int:
    entry = await stats_entry(client, key)
    return 0 if entry is None else entry["waiters"]


async def is_free(client, key: str) -> bool:
    return await stats_entry(client, key) is None


class RawRequest:
    """An HTTP request on a bare socket, so a test can drop the connection at will."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def send(cls, base_url: str, path: str, *, method: str = "GET") -> "RawRequest":
        url = httpx.URL(base_url)
        reader, writer = await asyncio.open_connection(url.host, url.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: {url.host}\r\nContent-Length: 0\r\n\r\n"
        writer.write(head.encode())
        await writer.drain()
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def closed_address() -> str:
    """host:port where nothing listens (a port the OS just handed out and took back)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


def dflock_environment(monkeypatch, settings) -> None:
    """Point the DFLOCK_* variables at `settings`' server and prefix, as a deployment would."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("DFLOCK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DFLOCK_SERVERS", ",".join(str(s) for s in settings.servers))
    monkeypatch.setenv("DFLOCK_KEY_PREFIX", settings.key_prefix)
    monkeypatch.setenv("DFLOCK_SERVER_READ_TIMEOUT_S", str(settings.server_read_timeout_s))
    monkeypatch.setenv("DFLOCK_CONNECT_TIMEOUT_S", str(settings.connect_timeout_s))
