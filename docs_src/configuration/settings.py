"""Where settings come from: arguments, then DFLOCK_* variables, then .env, then defaults."""

# --8<-- [start:settings]
from dflock_integrations import AsyncDflockClient, DflockSettings

settings = DflockSettings()  # from the environment and .env
client = AsyncDflockClient(settings)
client = AsyncDflockClient(key_prefix="billing.")  # or overrides as arguments
# --8<-- [end:settings]

if __name__ == "__main__":
    import os
    import tempfile

    from dflock_integrations import ConfigurationError

    assert [str(s) for s in settings.servers] == [os.environ["DFLOCK_SERVERS"]]
    assert client.settings.key_prefix == "billing."  # the argument wins over the variable
    assert client.settings.servers == settings.servers  # the rest still from the variables

    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # .env is read from the working directory
        with open(".env", "w", encoding="utf-8") as env_file:
            env_file.write("DFLOCK_LEASE_TTL_S=45\nDFLOCK_KEY_PREFIX=from-dotenv.\n")
        read = DflockSettings()
        assert read.lease_ttl_s == 45  # .env fills what the environment leaves out
        assert read.key_prefix == os.environ["DFLOCK_KEY_PREFIX"]  # the environment wins
        assert DflockSettings(lease_ttl_s=60).lease_ttl_s == 60  # an argument wins over both
        os.chdir(os.path.dirname(os.path.abspath(__file__)))
    assert DflockSettings().lease_ttl_s == 30  # the default

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
