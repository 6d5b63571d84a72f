import ssl

import pytest

from dflock_integrations import _variables
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
    assert DflockSettings(_env_file=".env").key_prefix == "fromfile."
    monkeypatch.setenv("DFLOCK_KEY_PREFIX", "fromenv.")
    settings = DflockSettings(_env_file=".env")
    assert (settings.key_prefix, settings.lease_ttl_s) == ("fromenv.", 7)
    assert DflockSettings(key_prefix="arg.", _env_file=".env").key_prefix == "arg."


def test_dotenv_is_read_only_when_named_and_an_unread_one_is_mentioned(
    monkeypatch, tmp_path, caplog
):
    monkeypatch.setattr(_variables, "_unread_checked", False)
    (tmp_path / ".env").write_text("DFLOCK_LEASE_TTL_S=7\nOTHER=1\n")
    settings = DflockSettings()
    assert settings.lease_ttl_s == 30  # ./.env is not read by itself
    assert "DFLOCK_LEASE_TTL_S" in caplog.text
    assert "_env_file" in caplog.text  # and the log says how to read it
    assert DflockSettings(_env_file=tmp_path / ".env").lease_ttl_s == 7


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("DFLOCK_SERVER", "DFLOCK_SERVERS"),
        ("DFLOCK_LEASE_TTL", "DFLOCK_LEASE_TTL_S"),
        ("DFLOCK_TOKEN", "DFLOCK_AUTH_TOKEN"),
        ("dflock_key_prefx", "DFLOCK_KEY_PREFIX"),  # read case-insensitively, so checked so
        ("DFLOCK_HOST", "DFLOCK_SERVERS"),
    ],
)
def test_a_misspelled_variable_names_the_setting_it_resembles(monkeypatch, name, meant):
    monkeypatch.setenv(name, "value-not-shown")
    with pytest.raises(ConfigurationError) as info:
        DflockSettings()
    message = str(info.value)
    assert name in message
    assert f"did you mean {meant}" in message
    assert "value-not-shown" not in message  # it may be a token


def test_a_misspelled_variable_in_the_named_dotenv_file_is_an_error_too(tmp_path):
    (tmp_path / "dflock.env").write_text("DFLOCK_SERVRES=db:6388\n")
    with pytest.raises(ConfigurationError, match=r"DFLOCK_SERVRES.*dflock\.env.*DFLOCK_SERVERS"):
        DflockSettings(_env_file=tmp_path / "dflock.env")


@pytest.mark.parametrize(
    "name",
    [
        "DFLOCK_PYTHON",
        "DFLOCK_VENV",  # ./dev's own
        "DFLOCK_CLUSTER",
        "DFLOCK_BUILD_NUMBER",  # resembles no setting: someone else's
        "DFLOCKD_PORT",  # the server's variables, another prefix
    ],
)
def test_other_dflock_variables_are_left_alone(monkeypatch, name):
    monkeypatch.setenv(name, "1")
    assert DflockSettings().servers == [ServerAddress("127.0.0.1", 6388)]


def test_names_come_from_the_model_so_new_fields_are_accepted(monkeypatch):
    class WithServersFile(DflockSettings):
        servers_file: str = ""

    monkeypatch.setenv("DFLOCK_SERVERS_FILE", "servers.txt")
    assert WithServersFile().servers_file == "servers.txt"
    with pytest.raises(ConfigurationError, match=r"DFLOCK_SERVERS_FILE.*DFLOCK_SERVERS"):
        DflockSettings()  # without the field it looks like a misspelt DFLOCK_SERVERS


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


@pytest.mark.parametrize(
    ("prefix", "words"),
    [
        ("é" * 33, "at most 64 bytes in UTF-8, got 66"),  # 33 characters, 66 bytes
        ("x" * 65, "at most 64 bytes"),
        ("shop\x00", "control characters"),
        ("shop..", "every signal channel"),
        ("shop*", "every signal channel"),
    ],
)
def test_a_key_prefix_that_would_break_every_key_fails_at_start_up(prefix, words):
    with pytest.raises(ConfigurationError, match="DFLOCK_KEY_PREFIX") as info:
        DflockSettings(key_prefix=prefix)
    assert words in str(info.value)


def test_the_longest_key_prefix_still_fits_every_rendered_key():
    from dflock_integrations.keys import KeyTemplate, prefixed

    settings = DflockSettings(key_prefix="é" * 32)  # 64 bytes: accepted
    key = KeyTemplate("order:{a}:{b}:{c}:{d}").render(dict.fromkeys("abcd", "ü" * 200))
    assert prefixed(settings.key_prefix, key)  # no InvalidKeyError at request time


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
