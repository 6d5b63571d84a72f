"""Auth tokens and TLS, with certificates made in the test by trustme."""

import ssl

from helpers import Wire


def test_auth_required_first(dflock_server_factory, wire):
    server = dflock_server_factory(auth_token="s3cret")
    w = wire(server.address)
    assert w.ask("ping") == "error_auth"
    assert w.closed_by_server()
    bad = wire(server.address)
    assert bad.ask("auth", "_", "wrong") == "error_auth"
    good = wire(server.address)
    assert good.ask("auth", "_", "s3cret") == "ok"
    assert good.ask("l", "k", "0").startswith("ok ")


def test_auth_token_file(dflock_server_factory, wire, tmp_path):
    path = tmp_path / "token"
    path.write_text("from-file\n")
    server = dflock_server_factory(auth_token_file=path)
    assert wire(server.address).ask("auth", "_", "from-file") == "ok"


def test_config_repr_hides_the_token(dflock_server_factory):
    server = dflock_server_factory(auth_token="hide-me")
    assert "hide-me" not in repr(server.config)


def test_tls(dflock_server_factory, dflock_tls_files):
    files = dflock_tls_files
    server = dflock_server_factory(tls_cert=str(files.server_cert), tls_key=str(files.server_key))
    context = ssl.create_default_context(cafile=str(files.ca_file))
    import socket

    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
    w = Wire(server.address, sock=tls)
    try:
        assert w.ask("ping") == "ok"
        assert w.ask("l", "secure", "0").startswith("ok ")
    finally:
        w.close()
