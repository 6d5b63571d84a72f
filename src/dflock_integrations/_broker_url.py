"""`DFLOCK_SIGNALS_URL`: the broker that carries signals, parsed once, shown without secrets.

    nats://[user:pass@]host[:port][,nats://...]   NATS core pub/sub (tls:// for TLS)
    redis://[[user]:pass@]host[:port][/db]        Redis (rediss:// for TLS)

A password or token in the URL never appears in a log line, a repr or an error:
everything this package prints shows `shown`, where it is replaced by `***`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

EXPECTED = (
    "expected nats://[user:pass@]host[:port] (several, comma-separated, for a cluster), "
    "tls://... for NATS over TLS, redis://[:pass@]host[:port][/db] or rediss://... for "
    "Redis over TLS"
)
KINDS: dict[str, Literal["nats", "redis"]] = {
    "nats": "nats",
    "tls": "nats",
    "redis": "redis",
    "rediss": "redis",
}
DEFAULT_PORTS = {"nats": 4222, "redis": 6379}
# The library each kind needs: (module to import, the extra that installs it).
LIBRARIES = {"nats": ("nats", "nats-py", "nats"), "redis": ("redis", "redis", "redis")}


@dataclass(frozen=True)
class BrokerUrl:
    kind: Literal["nats", "redis"]
    scheme: str
    urls: tuple[str, ...] = field(repr=False)  # as given, secrets included
    shown: str  # for people: secrets replaced by ***
    secrets: tuple[str, ...] = field(repr=False)
    db: int = 0  # Redis only

    @property
    def tls(self) -> bool:
        return self.scheme in ("tls", "rediss")

    def scrub(self, text: str) -> str:
        """`text` (a library's error message, say) with every secret of the URL masked."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def __str__(self) -> str:
        return self.shown


def parse_broker_url(text: str) -> BrokerUrl:
    """Parse and check a signals URL; a ValueError says what is wrong, without secrets."""
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in parts):
        raise ValueError(f"empty URL in {redact(text)!r}; {EXPECTED}")
    if any("://" not in part for part in parts):
        # Not echoed: a password holding a comma would be cut in two and shown.
        raise ValueError(
            f"every URL needs a scheme such as nats://; a comma in a password is written %2C; "
            f"{EXPECTED}"
        )
    parsed = [_parse_one(part) for part in parts]
    schemes = {scheme for scheme, *_ in parsed}
    kinds = {KINDS[scheme] for scheme in schemes}
    if len(schemes) > 1:
        raise ValueError(f"{redact(text)!r} mixes {' and '.join(sorted(schemes))}; use one scheme")
    (kind,) = kinds
    if kind == "redis" and len(parts) > 1:
        raise ValueError(
            f"{redact(text)!r} names several Redis servers; give one (Redis Cluster and "
            "Sentinel are not supported)"
        )
    module, package, extra = LIBRARIES[kind]
    if importlib.util.find_spec(module) is None:
        raise ValueError(
            f"{parsed[0][0]}:// needs {package}, which is not installed: "
            f"pip install 'dflock-integrations[{extra}]'"
        )
    secrets = tuple(secret for *_, found in parsed for secret in found)
    return BrokerUrl(
        kind=kind,
        scheme=parsed[0][0],
        urls=tuple(parts),
        shown=",".join(redact(part) for part in parts),
        secrets=tuple(sorted(set(secrets), key=len, reverse=True)),
        db=parsed[0][1],
    )


def _parse_one(text: str) -> tuple[str, int, tuple[str, ...]]:
    """(scheme, db, secrets) of one URL."""
    shown = redact(text)
    if any(c.isspace() or not c.isprintable() for c in text):
        raise ValueError(f"{shown!r} contains whitespace or control characters; {EXPECTED}")
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError as exc:
        raise ValueError(f"{shown!r} is not a valid URL ({_reason(exc)}); {EXPECTED}") from None
    scheme = url.scheme.lower()
    if scheme not in KINDS:
        got = f"scheme {scheme!r}" if scheme else "no scheme"
        raise ValueError(f"{shown!r} has {got}; {EXPECTED}")
    if not url.hostname:
        raise ValueError(f"{shown!r} has no host; {EXPECTED}")
    if port == 0:
        raise ValueError(f"{shown!r} has port 0; expected a port from 1 to 65535")
    if url.query or url.fragment:
        raise ValueError(f"{shown!r}: query strings and fragments are not supported; {EXPECTED}")
    db = 0
    path = url.path.strip("/")
    if KINDS[scheme] == "nats" and path:
        raise ValueError(f"{shown!r}: a NATS URL has no path; {EXPECTED}")
    if KINDS[scheme] == "redis" and path:
        if not path.isdigit():
            raise ValueError(
                f"{shown!r}: the path must be a database number; expected "
                "redis://[:pass@]host[:port][/db], such as redis://127.0.0.1:6379/0"
            )
        db = int(path)
    secrets = [s for s in (url.password, url.username if url.password is None else None) if s]
    # The decoded forms too: a library may show either.
    secrets += [unquote(s) for s in secrets]
    return scheme, db, tuple(secrets)


def redact(text: str) -> str:
    """A URL (or comma-separated URLs) with its password or token replaced by `***`.

    `user:pass@` keeps the user name; a lone `name@` is a NATS token, masked whole.
    Everything up to the last `@` counts as credentials, so a password with an
    unescaped `/` or `@` is masked too.
    """
    out = []
    for part in text.split(","):
        scheme, sep, rest = part.partition("://") if "://" in part else ("", "", part)
        if "@" in rest:
            userinfo, _, host = rest.rpartition("@")
            user, colon, _ = userinfo.partition(":")
            userinfo = f"{user}:***" if colon and "/" not in user else "***"
            rest = f"{userinfo}@{host}"
        out.append(f"{scheme}{sep}{rest}")
    return ",".join(out)


def _reason(exc: ValueError) -> str:
    """urllib's complaint, without the text it quotes (which may hold a secret)."""
    return "bad port" if "port" in str(exc).lower() else "malformed"
