"""`DflockSettings`: the one configuration every client and adapter is built from.

Values come, in this order of precedence, from arguments, `DFLOCK_*` environment
variables, a `.env` file when one is named (`DflockSettings(_env_file=".env")`),
and the defaults below. A `DFLOCK_*` variable that is not a setting but resembles
one is an error, as is a wrong value. `SettingsMapping` reads the same fields from
a framework's own configuration (Django's `DFLOCK`, Celery's `app.conf.dflock`).
"""

from __future__ import annotations

import difflib
import json
import re
import ssl
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Self

from dflock_integrations._broker_url import BrokerUrl, parse_broker_url
from dflock_integrations._variables import check_variable_names, warn_about_unread_dotenv
from dflock_integrations.errors import ConfigurationError, InvalidKeyError, UnknownVariableError
from dflock_integrations.keys import MAX_PREFIX_BYTES, check_channel

DEFAULT_PORT = 6388
ENV_PREFIX = "DFLOCK_"
# Never echoed in an error: a signals URL may hold a password (its checks show it masked).
_SECRET_FIELDS = frozenset({"auth_token", "signals_url"})


class ServerAddress(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> ServerAddress:
        """`host`, `host:port`, `[v6]` or `[v6]:port`; a bare host means port 6388."""
        text = text.strip()
        if not text or any(c.isspace() for c in text):
            raise ValueError(f"{text!r} is not a server address; expected host:port")
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]")
            if not sep or not host or (rest and not rest.startswith(":")):
                raise ValueError(f"{text!r} is not a server address; expected [v6-address]:port")
            port_text = rest[1:] if rest else ""
        elif text.count(":") == 1:
            host, port_text = text.split(":")
        elif ":" in text:
            raise ValueError(f"{text!r}: write IPv6 addresses in brackets, as [::1]:6388")
        else:
            host, port_text = text, ""
        if not host:
            raise ValueError(f"{text!r} has no host; expected host:port")
        if not port_text:
            return cls(host, DEFAULT_PORT)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"{text!r} has port {port_text!r}; expected a number from 1 to 65535")
        return cls(host, int(port_text))


def _split_servers(value: Any) -> Any:
    """Accept `a:1,b:2`, a JSON list, or a Python sequence of strings / pairs."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError:
                # `[::1]:6388,...` also starts with a bracket; treat it as a plain list.
                value = stripped.split(",")
        else:
            value = stripped.split(",")
    if not isinstance(value, list | tuple):
        raise ValueError("expected host:port[,host:port...] or a JSON list of them")
    parsed = []
    for item in value:
        if isinstance(item, ServerAddress):
            parsed.append(item)
        elif isinstance(item, list | tuple) and len(item) == 2:
            parsed.append(ServerAddress.parse(f"{item[0]}:{item[1]}"))
        elif isinstance(item, str):
            parsed.append(ServerAddress.parse(item))
        else:
            raise ValueError(f"{item!r} is not a server address; expected host:port")
    if not parsed:
        raise ValueError("at least one server is needed; expected host:port[,host:port...]")
    return parsed


class DflockSettings(BaseSettings):
    """Connection, timing and pool settings, read from `DFLOCK_*` variables.

    A `.env` file is read only when named: `DflockSettings(_env_file=".env")`.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # No implicit ./.env: which file a process read would depend on the directory
        # it was started in. Name one with _env_file= (pydantic-settings' argument).
        env_file=None,
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    servers: Annotated[list[ServerAddress], NoDecode, BeforeValidator(_split_servers)] = Field(
        default_factory=lambda: [ServerAddress("127.0.0.1", DEFAULT_PORT)],
        description="Servers as host:port[,host:port...]; keys are sharded across them.",
    )
    auth_token: SecretStr | None = Field(None, description="Token sent with `auth` first.")
    auth_token_file: Path | None = Field(None, description="File holding the auth token.")
    tls: bool = Field(False, description="Connect with TLS.")
    tls_ca_file: Path | None = Field(None, description="CA bundle that signed the server.")
    tls_cert_file: Path | None = Field(None, description="Client certificate (mutual TLS).")
    tls_key_file: Path | None = Field(None, description="Key of the client certificate.")
    tls_check_hostname: bool = Field(True, description="Check the server's name in its cert.")
    connect_timeout_s: float = Field(5.0, gt=0, le=300, description="Per connection attempt.")
    acquire_timeout_s: float = Field(10.0, ge=0, le=86_400, description="Wait for a grant.")
    lease_ttl_s: int = Field(30, gt=0, le=86_400, description="Lease asked for with a grant.")
    renew_ratio: float = Field(0.5, gt=0, lt=1, description="Renew after this part of a lease.")
    key_prefix: str = Field(
        "", description=f"Namespace for keys and channels; at most {MAX_PREFIX_BYTES} bytes."
    )
    server_read_timeout_s: float = Field(
        23.0, gt=0, le=86_400, description="The server's idle limit (dflockd --read-timeout)."
    )
    pool_max_idle: int = Field(16, ge=0, le=10_000, description="Idle connections per server.")
    pool_max_connections: int = Field(
        1024, ge=1, le=100_000, description="Connections per server, idle or busy."
    )
    topology: Literal["shards", "cluster"] = Field(
        "shards",
        description="shards: each key lives on one of the servers (CRC-32, as dflockd-client "
        "picks); cluster: the servers are members of one dflockd cluster, any of them "
        "answers and changes go to its leader.",
    )
    metrics: Literal["off", "prometheus", "otel"] = Field(
        "off",
        description="Lock metrics: prometheus (prometheus_client's default registry), "
        "otel (OpenTelemetry metrics and spans), or off.",
    )
    signals_url: SecretStr | None = Field(
        None,
        description="Broker that carries signals: nats://, tls://, redis:// or rediss:// "
        "(see signals.md); unset, the dflockd servers carry them.",
    )
    fencing: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Fences from tokens: auto, when the server issues them (dflockd 2.1+); "
        "on, required (an error otherwise); off, never.",
    )

    health_timeout_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Readiness checks: how long every server has to answer a ping.",
    )

    def __init__(self, **values: Any) -> None:
        env_file = values.get("_env_file", self.model_config.get("env_file"))
        # Misspelt names first: a typo is the likeliest cause of any other error.
        check_variable_names(type(self).model_fields, env_file)
        if env_file is None:
            warn_about_unread_dotenv()
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc)) from None

    @field_validator("key_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        # Every key and channel starts with the prefix: one that cannot travel would
        # fail every request, so it fails here instead.
        bad = next((c for c in value if c.isspace() or not c.isprintable()), None)
        if bad is not None:
            raise ValueError(f"must not contain whitespace or control characters, found {bad!r}")
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError("must be text that UTF-8 can encode") from None
        if size > MAX_PREFIX_BYTES:
            note = " (a non-ASCII character takes 2 to 4)" if size != len(value) else ""
            raise ValueError(f"must be at most {MAX_PREFIX_BYTES} bytes in UTF-8, got {size}{note}")
        if value:
            try:
                check_channel(value + "x")
                check_channel(value + "x", pattern=True)
            except InvalidKeyError as exc:
                raise ValueError(f"would make every signal channel invalid: {exc}") from None
        return value

    @field_validator("signals_url")
    @classmethod
    def _check_signals_url(cls, value: SecretStr | None) -> SecretStr | None:
        # Blank means unset, as `DFLOCK_SIGNALS_URL=` in a .env file would say.
        if value is None or not value.get_secret_value().strip():
            return None
        parse_broker_url(value.get_secret_value())
        return value

    @field_validator("auth_token_file", "tls_ca_file", "tls_cert_file", "tls_key_file")
    @classmethod
    def _check_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{str(value)!r} is not a file; expected the path of a readable file")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.auth_token is not None and self.auth_token_file is not None:
            raise ValueError(
                f"{ENV_PREFIX}AUTH_TOKEN and {ENV_PREFIX}AUTH_TOKEN_FILE: set one, not both"
            )
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(f"{ENV_PREFIX}TLS_CERT_FILE and {ENV_PREFIX}TLS_KEY_FILE go together")
        return self

    def replace(self, **changes: Any) -> DflockSettings:
        """A validated copy with `changes` applied (model_copy would skip validation)."""
        if not changes:
            return self
        return type(self)(**{**self.model_dump(), **changes})

    def broker_url(self) -> BrokerUrl | None:
        """The broker that carries signals, or None for the dflockd servers themselves."""
        if self.signals_url is None:
            return None
        return parse_broker_url(self.signals_url.get_secret_value())

    def token(self) -> str | None:
        """The auth token, from `auth_token` or read from `auth_token_file`."""
        if self.auth_token is not None:
            return self.auth_token.get_secret_value()
        if self.auth_token_file is not None:
            return self.auth_token_file.read_text(encoding="utf-8").strip()
        return None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client TLS context these settings describe, or None without TLS."""
        if not self.tls:
            return None
        context = ssl.create_default_context(
            cafile=str(self.tls_ca_file) if self.tls_ca_file else None
        )
        context.check_hostname = self.tls_check_hostname
        if not self.tls_check_hostname:
            # Without a name check a certificate still has to chain to a trusted CA.
            context.verify_mode = ssl.CERT_REQUIRED
        if self.tls_cert_file is not None and self.tls_key_file is not None:
            context.load_cert_chain(str(self.tls_cert_file), str(self.tls_key_file))
        return context


def resolve_settings(settings: DflockSettings | None, overrides: dict[str, Any]) -> DflockSettings:
    """What a client is built from: given settings (or the environment's) plus overrides."""
    if settings is None:
        return DflockSettings(**overrides)
    return settings.replace(**overrides)


_VARIABLE = re.compile(rf"\b{ENV_PREFIX}([A-Z0-9_]+)\b")


@dataclass(frozen=True)
class SettingsMapping:
    """Settings written in a framework's configuration rather than in `DFLOCK_*` variables.

    The keys are field names: in upper case only (`upper_case=True`, Django's way) or in
    any case (Celery's). A given value wins over its variable; the variables fill in the
    rest. Errors name a given value as `written_as(key)` (`DFLOCK["LEASE_TTL_S"]`), the
    rest by their variables, and a key that is no setting together with the one it
    resembles. `other_keys` are the framework's own (Django's `RULES`), never reported.
    """

    written_as: Callable[[str], str]
    upper_case: bool = False
    other_keys: Collection[str] = ()

    def field(self, key: object) -> str | None:
        """The setting a key names, or None."""
        text = str(key)
        if self.upper_case and text != text.upper():
            return None
        return text.lower() if text.lower() in DflockSettings.model_fields else None

    def unknown(self, raw: Mapping[str, Any] | None) -> list[tuple[str, str | None]]:
        """The keys that name no setting, each with the known key it resembles (or None)."""
        known = self.known_keys()
        found = []
        for key in raw or ():
            if self.field(key) is None and key not in self.other_keys:
                close = difflib.get_close_matches(self._spelt(str(key)), known, n=1)
                found.append((str(key), close[0] if close else None))
        return found

    def known_keys(self) -> list[str]:
        return sorted({*map(self._spelt, DflockSettings.model_fields), *self.other_keys})

    def unknown_message(self, key: str, meant: str | None) -> str:
        hint = (
            f"did you mean {self.written_as(meant)}?"
            if meant
            else f"known keys: {', '.join(self.known_keys())}"
        )
        return f"{self.written_as(key)} is not a dflock setting; {hint}"

    def settings(
        self, raw: Mapping[str, Any] | None, *, check_unknown: bool = True
    ) -> DflockSettings:
        """`DflockSettings` from `raw`; ConfigurationError naming every key at fault.

        `check_unknown=False` leaves out the keys that name no setting (for a caller
        that reports them apart).
        """
        raw = raw or {}
        unknown = self.unknown(raw) if check_unknown else []
        if unknown:
            lines = [f"  {self.unknown_message(key, meant)}" for key, meant in unknown]
            raise ConfigurationError("\n".join(["invalid dflock settings:", *lines]))
        given = {field: key for key in raw if (field := self.field(key)) is not None}
        try:
            return DflockSettings(**{field: raw[key] for field, key in given.items()})
        except UnknownVariableError:
            raise  # about environment variables, named as they are set
        except ConfigurationError as exc:
            # Values given here are named as written here; the rest came from the
            # environment and keep their variable names.
            message = _VARIABLE.sub(
                lambda m: self.written_as(given[f]) if (f := m[1].lower()) in given else m[0],
                str(exc),
            )
            raise ConfigurationError(message) from None

    def _spelt(self, name: str) -> str:
        return name.upper() if self.upper_case else name.lower()


def _describe(exc: ValidationError) -> str:
    """One line per bad value, naming its environment variable and never echoing a secret."""
    lines = ["invalid dflock settings:"]
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        if field:
            name = f"{ENV_PREFIX}{field.upper()}"
            shown = "" if field in _SECRET_FIELDS else f" (got {error.get('input')!r})"
            lines.append(f"  {name}: {message}{shown}")
        else:
            lines.append(f"  {message}")
    return "\n".join(lines)
