"""Deprecated: moved to `dflock_integrations.testing.filesystem_broker`."""

from dflock_integrations._deprecated import moved
from dflock_integrations.testing.filesystem_broker import (
    TRANSPORT,
    Channel,
    Transport,
    filesystem_broker,
)

__all__ = ["TRANSPORT", "Channel", "Transport", "filesystem_broker"]

moved(__name__, "dflock_integrations.testing.filesystem_broker")
