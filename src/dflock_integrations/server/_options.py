"""`ServerConfig`: the embedded server's options, named after dflockd's own flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dflock_integrations.server._profiles import DEFAULT, Profile

MAX_LINE_BYTES = 256
MAX_BIG_LINE_BYTES = 64 * 1024  # an auth token or a signal payload


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 6388
    auth_token: str | None = None
    auth_token_file: Path | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    default_lease_ttl_s: int = 33
    lease_sweep_interval_s: float = 1.0
    gc_interval_s: float = 5.0
    gc_max_idle_s: float = 60.0
    max_locks: int = 1024  # distinct keys with state; 0 = unlimited
    max_waiters: int = 0  # per key; 0 = unlimited
    max_connections: int = 0  # 0 = unlimited
    max_subscriptions: int = 1024  # listen patterns per connection
    read_timeout_s: float = 23.0
    write_timeout_s: float = 5.0
    shutdown_timeout_s: float = 30.0
    # Bytes a listener may leave unread before the server drops it (protects emitters).
    push_buffer_bytes: int = 1 << 20
    # Which upstream generation to answer as (see _profiles.py).
    compat: str = DEFAULT
    # Answer as a cluster follower whose leader's client address is this ("" = unknown).
    follower_of: str | None = None

    def __post_init__(self) -> None:
        if self.auth_token is not None and self.auth_token_file is not None:
            raise ValueError("give auth_token or auth_token_file, not both")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.default_lease_ttl_s < 1:
            raise ValueError("default_lease_ttl_s must be >= 1")
        for name in (
            "lease_sweep_interval_s",
            "gc_interval_s",
            "read_timeout_s",
            "write_timeout_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        for name in ("max_locks", "max_waiters", "max_connections", "max_subscriptions"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        Profile.named(self.compat)  # raises, naming the choices
        if self.follower_of and any(c.isspace() for c in self.follower_of):
            raise ValueError(f"follower_of must be host:port, got {self.follower_of!r}")

    @property
    def profile(self) -> Profile:
        return Profile.named(self.compat)

    def token(self) -> str | None:
        if self.auth_token_file is not None:
            return Path(self.auth_token_file).read_text(encoding="utf-8").strip()
        return self.auth_token

    def __repr__(self) -> str:
        # The token stays out of reprs and logs.
        token = "***" if self.auth_token else None
        return (
            f"ServerConfig(host={self.host!r}, port={self.port}, auth_token={token}, "
            f"tls={self.tls_cert is not None}, read_timeout_s={self.read_timeout_s}, "
            f"compat={self.compat!r}, follower_of={self.follower_of!r})"
        )
