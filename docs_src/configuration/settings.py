"""Where settings come from: arguments, then DFLOCK_* variables, then a named .env file,
then defaults; and what a misspelt variable gives."""

# --8<-- [start:settings]
from dflock_integrations import AsyncDflockClient, DflockSettings

settings = DflockSettings()  # from the DFLOCK_* environment variables
client = AsyncDflockClient(settings)
client = AsyncDflockClient(key_prefix="billing.")  # or overrides as arguments
# --8<-- [end:settings]

# --8<-- [start:dotenv]
settings = DflockSettings(_env_file=".env")  # and a .env file, only when named
# --8<-- [end:dotenv]

if __name__ == "__main__":
    import os
    import tempfile

    from dflock_integrations import ConfigurationError

    assert [str(s) for s in settings.servers] == [os.environ["DFLOCK_SERVERS"]]
    assert client.settings.key_prefix == "billing."  # the argument wins over the variable
    assert client.settings.servers == settings.servers  # the rest still from the variables

    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        with open(".env", "w", encoding="utf-8") as env_file:
            env_file.write("DFLOCK_LEASE_TTL_S=45\nDFLOCK_KEY_PREFIX=from-dotenv.\n")
        assert DflockSettings().lease_ttl_s == 30  # not named: not read
        read = DflockSettings(_env_file=".env")
        assert read.lease_ttl_s == 45  # .env fills what the environment leaves out
        assert read.key_prefix == os.environ["DFLOCK_KEY_PREFIX"]  # the environment wins
        assert DflockSettings(lease_ttl_s=60, _env_file=".env").lease_ttl_s == 60  # arguments win
        os.chdir(os.path.dirname(os.path.abspath(__file__)))
    assert DflockSettings().lease_ttl_s == 30  # the default

    os.environ["DFLOCK_SERVER"] = "cache:6388"  # a misspelling of DFLOCK_SERVERS
    try:
        DflockSettings()
    except ConfigurationError as exc:
        typo = str(exc)
    else:
        raise AssertionError("a misspelt variable was ignored")
    del os.environ["DFLOCK_SERVER"]
    print(typo)
    assert "DFLOCK_SERVER: not a dflock setting" in typo, typo
    assert "did you mean DFLOCK_SERVERS?" in typo, typo

    try:
        DflockSettings(servers="cache:eighty")
    except ConfigurationError as exc:
        message = str(exc)
    else:
        raise AssertionError("a bad port was accepted")
    print(message)
    assert message.startswith("invalid dflock settings:\n"), message
    assert "DFLOCK_SERVERS: 'cache:eighty' has port 'eighty'" in message, message
    print("ok")
