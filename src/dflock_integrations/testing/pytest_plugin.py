"""pytest fixtures for code that uses dflock (entry point `pytest11`, enabled on install).

- `dflock_server`: an embedded server on a free 127.0.0.1 port for the whole session.
- `dflock_settings`: `DflockSettings` for that server, with a key prefix unique to
  the test, so tests never see each other's locks.
- `dflock_client`: a `SyncDflockClient` built from `dflock_settings`.
- `dflock_server_factory`: start more servers (auth, TLS, short timeouts) for one test.
- `dflock_server_process`: start servers in child processes, to freeze (SIGSTOP),
  kill (SIGKILL) or restart them while a test runs.
- `dflock_tls_files`: a CA, a server certificate and a client certificate made by
  trustme, for TLS tests.
- `dflock_compat`: the dflockd generation those servers answer as. `pytest
  --dflock-compat 1.10` runs every test against v1.10's behaviour; the marker
  `@pytest.mark.dflock_compat("1.10", "2.1")` runs a test once per generation.

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
    from dflock_integrations.server import RunningServer, ServerProcess
    from dflock_integrations.settings import DflockSettings

_prefixes = itertools.count(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dflock")
    group.addoption(
        "--dflock-compat",
        default=None,
        help="dflockd generation the embedded test servers answer as "
        "(default, 1.10 ... 1.16, 2.0, 2.1, cluster)",
    )
    parser.addini("dflock_compat", "default for --dflock-compat", default="default")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dflock_compat(*generations): run the test once against each dflockd generation",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("dflock_compat")
    if marker is None or "dflock_compat" not in metafunc.fixturenames:
        return
    from dflock_integrations.server import Profile

    params = []
    for arg in marker.args:  # names, or pytest.param(name, marks=...)
        values, marks = (arg.values, arg.marks) if hasattr(arg, "values") else ((arg,), ())
        Profile.named(values[0])  # a typo fails at collection, naming the choices
        params.append(pytest.param(*values, marks=marks, id=f"dflockd-{values[0]}"))
    metafunc.parametrize("dflock_compat", params, indirect=True, scope="session")


@pytest.fixture(scope="session")
def dflock_compat(request: pytest.FixtureRequest) -> str:
    """The generation test servers answer as: the marker's, else --dflock-compat's."""
    param = getattr(request, "param", None)
    if param is not None:
        return str(param)
    chosen = request.config.getoption("--dflock-compat") or request.config.getini("dflock_compat")
    return str(chosen)


@pytest.fixture(scope="session")
def dflock_server_options() -> dict[str, Any]:
    """`ServerConfig` fields for the session server; override to change them."""
    return {}


@pytest.fixture(scope="session")
def dflock_server(
    dflock_server_options: dict[str, Any], dflock_compat: str
) -> Iterator[RunningServer]:
    """An embedded dflockd-compatible server, confirmed ready by a real round trip."""
    from dflock_integrations.server import run_in_thread

    with run_in_thread(**{"compat": dflock_compat, **dflock_server_options}) as server:
        yield server


def settings_for(server: RunningServer | ServerProcess, **overrides: Any) -> DflockSettings:
    """Client settings that reach `server`, with its idle limit and auth token."""
    from dflock_integrations.settings import DflockSettings

    values: dict[str, Any] = {"servers": [server.address], "connect_timeout_s": 2.0}
    config = getattr(server, "config", None)
    if config is not None:
        values["server_read_timeout_s"] = config.read_timeout_s
        if config.auth_token:
            values["auth_token"] = config.auth_token
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
def dflock_server_factory(dflock_compat: str) -> Iterator[Callable[..., RunningServer]]:
    """`start(**config)` -> a running server, stopped when the test ends."""
    from contextlib import ExitStack

    from dflock_integrations.server import run_in_thread

    with ExitStack() as stack:

        def start(**options: Any) -> RunningServer:
            return stack.enter_context(run_in_thread(**{"compat": dflock_compat, **options}))

        yield start


@pytest.fixture
def dflock_server_process(dflock_compat: str) -> Iterator[Callable[..., ServerProcess]]:
    """`start(*flags, compat=...)` -> `dflock serve` in a child process, stopped at the end.

    Flags are dflockd's (`"--read-timeout", "2"`). The result can `freeze()` (SIGSTOP),
    `thaw()`, `kill()` (SIGKILL), `restart()` on the same port, or `terminate()`.
    """
    from dflock_integrations.server import ServerProcess

    started: list[ServerProcess] = []

    def start(*flags: str, compat: str | None = None) -> ServerProcess:
        process = ServerProcess(compat=compat or dflock_compat, flags=flags)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()


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
