"""DFLOCK in settings, the rest from DFLOCK_* variables; read when used; checked."""

# --8<-- [start:settings]
DFLOCK = {"KEY_PREFIX": "shop."}  # servers and token from DFLOCK_SERVERS, DFLOCK_AUTH_TOKEN
# --8<-- [end:settings]

if __name__ == "__main__":
    import os

    import django
    from django.conf import settings

    settings.configure(INSTALLED_APPS=["dflock_integrations.django"], DFLOCK=DFLOCK)
    django.setup()

    from django.core.checks import run_checks
    from django.test import override_settings

    from dflock_integrations import ConfigurationError
    from dflock_integrations.django import get_client, get_settings

    # DFLOCK_KEY_PREFIX is set too: the key in DFLOCK wins; SERVERS falls back to the variable.
    assert os.environ["DFLOCK_KEY_PREFIX"] != "shop."
    current = get_settings()
    assert current.key_prefix == "shop.", current.key_prefix
    assert [str(s) for s in current.servers] == [os.environ["DFLOCK_SERVERS"]]
    with get_client().lock("invoice:7") as lock:
        assert lock.key == "shop.invoice:7"

    # Read when used: override_settings applies at once, and the client is rebuilt.
    before = get_client()
    with override_settings(DFLOCK={"KEY_PREFIX": "billing."}):
        assert get_settings().key_prefix == "billing."
        assert get_client() is not before
        assert get_client().lock("x").key == "billing.x"
    assert get_settings().key_prefix == "shop."

    # A bad value names the key as written.
    with override_settings(DFLOCK={"LEASE_TTL_S": -1}):
        try:
            get_settings()
        except ConfigurationError as exc:
            message = str(exc)
        else:
            raise AssertionError("a negative lease was accepted")
        assert 'DFLOCK["LEASE_TTL_S"]: Input should be greater than 0 (got -1)' in message, message
        # ... and `manage.py check` reports it first, as dflock.E001.
        errors = [m for m in run_checks() if m.id == "dflock.E001"]
        assert len(errors) == 1 and 'DFLOCK["LEASE_TTL_S"]' in errors[0].msg, errors

    with override_settings(DFLOCK={"SERVRES": "a:6388"}):  # a typo: E002 with a hint
        typo = [m for m in run_checks() if m.id == "dflock.E002"]
        assert len(typo) == 1 and typo[0].hint == 'Did you mean "SERVERS"?', typo
    print("ok")
