import ssl

import pytest

from dflock_integrations.errors import ConfigurationError
from dflock_integrations.settings import DflockSettings, ServerAddress


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for name in list(__import__("os").environ):
        if name.startswith("DFLOCK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults():
    settings = DflockSettings()
    assert settings.servers == [ServerAddress("127.0.0.1", 6388)]
    assert settings.server_read_timeout_s == 23
    assert settings.ssl_context() is None
    assert settings.token() is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a:1,b:2", [("a", 1), ("b", 2)]),
        (" a:1 , b ", [("a", 1), ("b", 6388)]),
        ('["a:1", "[::1]:7000"]', [("a", 1), ("::1", 7000)]),
        ("[::1]:6390,[fe80::1]", [("::1", 6390), ("fe80::1", 6388)]),
        ("db.internal", [("db.internal", 6388)]),
    ],
)
def test_servers_forms(monkeypatch, text, expected):
    monkeypatch.setenv("DFLOCK_SERVERS", text)
    assert [tuple(s) for s in DflockSettings().servers] == expected


def test_ipv6_renders_with_brackets():
    assert str(ServerAddress("::1", 6388)) == "[::1]:6388"
    assert str(ServerAddress("h", 1)) == "h:1"


@pytest.mark.parametrize("text", ["a:0", "a:70000", "a:x", "::1:6388", "[::1", ":80", "a b:1", ""])
def test_bad_servers_name_the_variable(monkeypatch, text):
    monkeypatch.setenv("DFLOCK_SERVERS", text)
    with pytest.raises(ConfigurationError, match="DFLOCK_SERVERS"):
        DflockSettings()


def test_precedence_arguments_env_dotenv(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("DFLOCK_KEY_PREFIX=fromfile.\nDFLOCK_LEASE_TTL_S=7\n")
    assert DflockSettings().key_prefix == "fromfile."
    monkeypatch.setenv("DFLOCK_KEY_PREFIX", "fromenv.")
    settings = DflockSettings()
    assert (settings.key_prefix, settings.lease_ttl_s) == ("fromenv.", 7)
    assert DflockSettings(key_prefix="arg.").key_prefix == "arg."


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("DFLOCK_RENEW_RATIO", "1.5", "less than 1"),
        ("DFLOCK_LEASE_TTL_S", "0", "greater than 0"),
        ("DFLOCK_CONNECT_TIMEOUT_S", "soon", "number"),
        ("DFLOCK_KEY_PREFIX", "a b", "whitespace"),
        ("DFLOCK_TLS_CA_FILE", "/nonexistent/ca.pem", "not a file"),
    ],
)
def test_bad_values_name_variable_and_expectation(monkeypatch, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as info:
        DflockSettings()
    assert name in str(info.value)
    assert words in str(info.value)


def test_secret_never_shown(monkeypatch):
    settings = DflockSettings(auth_token="hunter2-very-secret")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())
    assert settings.token() == "hunter2-very-secret"
    monkeypatch.setenv("DFLOCK_AUTH_TOKEN", "hunter2-very-secret")
    with pytest.raises(ConfigurationError) as info:
        DflockSettings(lease_ttl_s=-1, auth_token_file="/nope")
    assert "hunter2" not in str(info.value)


def test_token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text("s3cr3t\n")
    assert DflockSettings(auth_token_file=path).token() == "s3cr3t"
    with pytest.raises(ConfigurationError, match="not both"):
        DflockSettings(auth_token_file=path, auth_token="x")


def test_tls_context(dflock_tls_files):
    settings = DflockSettings(
        tls=True,
        tls_ca_file=dflock_tls_files.ca_file,
        tls_cert_file=dflock_tls_files.client_cert,
        tls_key_file=dflock_tls_files.client_key,
    )
    context = settings.ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(ConfigurationError, match="go together"):
        DflockSettings(tls=True, tls_cert_file=dflock_tls_files.client_cert)
