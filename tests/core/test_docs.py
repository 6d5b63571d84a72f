"""Documentation that is generated from code must not drift from it."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_reference_matches_settings():
    reference = _load(ROOT / "scripts" / "config_reference.py")
    page = reference.PAGE.read_text(encoding="utf-8")
    assert reference.render(page) == page, "run: python scripts/config_reference.py"


def test_public_names_are_pinned():
    import dflock_integrations

    assert sorted(dflock_integrations.__all__) == [
        "AsyncDflockClient",
        "AsyncLease",
        "AsyncLock",
        "AsyncMultiLock",
        "AsyncMultiLockHandle",
        "AsyncRateLimiter",
        "AsyncReentrantLock",
        "AsyncSemaphore",
        "AsyncSubscription",
        "AuthenticationError",
        "ConfigurationError",
        "DflockError",
        "DflockSettings",
        "InvalidKeyError",
        "KeyTemplate",
        "LimitMismatchError",
        "LockLostError",
        "LockMode",
        "LockTimeout",
        "MaxLocksError",
        "MaxWaitersError",
        "ProtocolError",
        "Rate",
        "RateLimited",
        "ServerAddress",
        "ServerError",
        "ServerUnavailable",
        "Signal",
        "SignalsUnsupported",
        "Stats",
        "SyncDflockClient",
        "SyncLease",
        "SyncLock",
        "SyncMultiLock",
        "SyncMultiLockHandle",
        "SyncRateLimiter",
        "SyncReentrantLock",
        "SyncSemaphore",
        "SyncSubscription",
    ]
    assert len(set(dflock_integrations.__all__)) == len(dflock_integrations.__all__)
    for name in dflock_integrations.__all__:
        assert hasattr(dflock_integrations, name)
