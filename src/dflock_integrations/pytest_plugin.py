"""pytest fixtures for code that uses dflock (entry point `pytest11`, enabled on install).

- `dflock_server`: an embedded server on a free 127.0.0.1 port for the whole session.
- `dflock_settings`: `DflockSettings` for that server, with a key prefix unique to
  the test, so tests never see each other's locks.
- `dflock_client`: a `SyncDflockClient` built from `dflock_settings`.
- `dflock_server_factory`: start more servers (auth, TLS, short timeouts) for one test.
- `dflock_tls_files`: a CA, a server certificate and a client certificate made by
  trustme, for TLS tests.

Override `dflock_server_options` to configure the session server. Importing this
module only defines fixtures; servers start when a test asks for one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dflock_integrations.client import SyncDflockClient
    from dflock_integrations.server import RunningServer
    from dflock_integrations.settings import DflockSettings

_prefixes = itertools.count(1)


@pytest.fixture(scope="session")
def dflock_server_options() -> dict[str, Any]:
    """`ServerConfig` fields for the session server; override to change them."""
    return {}


@pytest.fixture(scope="session")
def dflock_server(dflock_server_options: dict[str, Any]) -> Iterator[RunningServer]:
    """An embedded dflockd-compatible server, confirmed ready by a real `ping`."""
    from dflock_integrations.server import run_in_thread

    with run_in_thread(**dflock_server_options) as server:
        yield server


def settings_for(server: RunningServer, **overrides: Any) -> DflockSettings:
    """Client settings that reach `server`, with its idle limit and auth token."""
    from dflock_integrations.settings import DflockSettings

    values: dict[str, Any] = {
        "servers": [server.address],
        "server_read_timeout_s": server.config.read_timeout_s,
        "connect_timeout_s": 2.0,
    }
    if server.config.auth_token:
        values["auth_token"] = server.config.auth_token
    values.update(overrides)
    return DflockSettings(**values)


@pytest.fixture
def dflock_settings(dflock_server: RunningServer) -> DflockSettings:
    """Settings for `dflock_server`, with a key prefix of this test's own."""
    return settings_for(dflock_server, key_prefix=f"t{next(_prefixes)}.")


@pytest.fixture
def dflock_client(dflock_settings: DflockSettings) -> Iterator[SyncDflockClient]:
    from dflock_integrations.client import SyncDflockClient

    client = SyncDflockClient(dflock_settings)
    yield client
    client.close()


@pytest.fixture
def dflock_server_factory() -> Iterator[Callable[..., RunningServer]]:
    """`start(**config)` -> a running server, stopped when the test ends."""
    from contextlib import ExitStack

    from dflock_integrations.server import run_in_thread

    with ExitStack() as stack:

        def start(**options: Any) -> RunningServer:
            return stack.enter_context(run_in_thread(**options))

        yield start


@dataclass(frozen=True)
class TLSFiles:
    ca_file: Path
    server_cert: Path  # certificate chain, PEM
    server_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="session")
def dflock_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A throw-away CA with a certificate for 127.0.0.1 / localhost and a client one."""
    try:
        import trustme
    except ImportError:  # pragma: no cover - depends on the user's environment
        pytest.skip("dflock_tls_files needs trustme: pip install trustme")
    folder = tmp_path_factory.mktemp("dflock-tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost", "::1")
    client = ca.issue_cert("dflock-client@example.test")
    files = TLSFiles(
        ca_file=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    ca.cert_pem.write_to_path(str(files.ca_file))
    for blob in server.cert_chain_pems:
        blob.write_to_path(str(files.server_cert), append=True)
    server.private_key_pem.write_to_path(str(files.server_key))
    for blob in client.cert_chain_pems:
        blob.write_to_path(str(files.client_cert), append=True)
    client.private_key_pem.write_to_path(str(files.client_key))
    return files
