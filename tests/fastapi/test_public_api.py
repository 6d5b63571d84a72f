"""The public names of the FastAPI and Starlette modules are pinned."""

import dflock_integrations.fastapi as fastapi_module
import dflock_integrations.starlette as starlette_module

STARLETTE_NAMES = [
    "DflockMiddleware",
    "HttpAnswer",
    "Rule",
    "SignalStreamResponse",
    "channel_event",
    "dflock_exception_handler",
    "dflock_lifespan",
    "dflock_readiness",
    "get_dflock_client",
    "install_exception_handlers",
    "json_answer",
    "locking_enabled",
]


def test_starlette_names():
    assert sorted(starlette_module.__all__) == STARLETTE_NAMES
    for name in starlette_module.__all__:
        assert hasattr(starlette_module, name)


def test_fastapi_names_add_the_dependencies():
    assert sorted(fastapi_module.__all__) == sorted(
        [
            *STARLETTE_NAMES,
            "DflockHTTPException",
            "HeldLease",
            "KeySource",
            "LeaseDependency",
            "SkippedLease",
            "dflock_lock",
            "dflock_multilock",
            "dflock_rate_limit",
            "dflock_semaphore",
        ]
    )
    for name in fastapi_module.__all__:
        if name == "get_dflock_client":
            continue  # FastAPI's own: as a dependency it also answers the endpoint's failures
        assert getattr(fastapi_module, name) is getattr(
            starlette_module, name, getattr(fastapi_module, name)
        )
