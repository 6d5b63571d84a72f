"""Keys, key templates and channel names, shared by every adapter.

An application's own literal text (`"order:"` in `"order:{order_id}"`) is checked
once, when the template is built. Values filled in at run time come from requests
and task arguments, so they are encoded: any value gives a valid key, two distinct
values never give the same key, and nothing a value holds can reach the wire as a
separate protocol line.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from dflock_integrations.errors import InvalidKeyError

MAX_KEY_BYTES = 256  # the server's line limit
# Encoded values longer than this are replaced by a digest, so a template with a
# few fields stays under the line limit whatever the request sends.
MAX_VALUE_CHARS = 64
# The longest DFLOCK_KEY_PREFIX, in UTF-8 bytes (the settings check it at start-up).
MAX_PREFIX_BYTES = 64
# Room left for the prefix: a rendered key longer than this is shortened, so a
# template with many fields stays valid whatever it is given.
MAX_RENDERED_BYTES = MAX_KEY_BYTES - MAX_PREFIX_BYTES
# Characters a key may have for `prefixed` to pass it at once: 4 UTF-8 bytes each at
# most, so with the longest prefix the key stays within MAX_KEY_BYTES.
_SHORT = (MAX_KEY_BYTES - MAX_PREFIX_BYTES) // 4
_SAFE = "-_.:@+"
# `!` is never left bare by quote(), so a digest can never equal an encoded value.
_DIGEST_MARK = "!"


def encode_value(value: object) -> str:
    """Encode one interpolated value into key-safe text, injectively."""
    text = value if isinstance(value, str) else str(value)
    encoded = quote(text, safe=_SAFE, errors="surrogatepass")
    if len(encoded) <= MAX_VALUE_CHARS:
        return encoded
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{_DIGEST_MARK}{digest}"


def check_key(key: str, *, what: str = "key") -> str:
    """Raise InvalidKeyError unless `key` can travel as a protocol key line."""
    # The common case, on every lock(): printable, no space, short enough in any encoding.
    if type(key) is str and key.isprintable() and " " not in key and 0 < len(key) <= 64:
        return key
    if not isinstance(key, str):
        raise InvalidKeyError(f"{what} must be a string, got {type(key).__name__}")
    if not key:
        raise InvalidKeyError(f"{what} must not be empty")
    bad = next((c for c in key if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        raise InvalidKeyError(
            f"{what} {key!r} contains {bad!r}; keys may not contain whitespace or control "
            "characters (values filled into a template are encoded for you)"
        )
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"{what} {key[:40]!r}... is longer than {MAX_KEY_BYTES} bytes")
    return key


class KeyTemplate:
    """A key with `{name}` fields, e.g. `"order:{order_id}"`, checked when built."""

    __slots__ = ("_parts", "fields", "template")

    def __init__(self, template: str) -> None:
        if not isinstance(template, str):
            raise InvalidKeyError(f"key template must be a string, got {type(template).__name__}")
        self.template = template
        parts: list[tuple[str, str | None]] = []
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise InvalidKeyError(f"key template {template!r}: {exc}") from None
        for literal, field, spec, conversion in parsed:
            if field is not None and (spec or conversion or not field.isidentifier()):
                raise InvalidKeyError(
                    f"key template {template!r}: field {{{field}}} must be a plain name "
                    "such as {order_id}, without attributes, indexes or format specs"
                )
            parts.append((literal, field))
        self._parts = tuple(parts)
        self.fields = tuple(f for _, f in parts if f is not None)
        # A sample with every field filled proves the literal text is a valid key.
        check_key(self._fill({f: "x" for f in self.fields}), what=f"key template {template!r}")

    def render(self, values: Mapping[str, Any]) -> str:
        """The key for these values; every field value is encoded."""
        key = self._fill(values)
        if len(key.encode("utf-8")) <= MAX_RENDERED_BYTES:
            return key
        # Too long once filled in: keep the literal head for people reading stats, and
        # make the rest a digest of the whole key (distinct keys stay distinct).
        head = self._parts[0][0][:MAX_VALUE_CHARS]
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]
        return f"{head}{_DIGEST_MARK}{digest}"

    def _fill(self, values: Mapping[str, Any]) -> str:
        out: list[str] = []
        for literal, field in self._parts:
            out.append(literal)
            if field is not None:
                if field not in values:
                    raise InvalidKeyError(
                        f"key template {self.template!r} needs {field!r}, which is missing"
                    )
                out.append(encode_value(values[field]))
        return "".join(out)

    def __repr__(self) -> str:
        return f"KeyTemplate({self.template!r})"


def prefixed(prefix: str, key: str) -> str:
    """The key as sent, `prefix + key`: the one check a key gets on its way to the wire.

    The prefix was checked with the settings (printable, no space, at most
    MAX_PREFIX_BYTES), so what the key adds decides: a short printable key passes at
    once; any other is checked in full, and its length with the prefix.
    """
    if type(key) is str and key.isprintable() and " " not in key and 0 < len(key) <= _SHORT:
        return prefix + key
    check_key(key)
    full = prefix + key
    if len(full.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"key {full[:40]!r}... is longer than {MAX_KEY_BYTES} bytes")
    return full


def check_channel(channel: str, *, pattern: bool = False) -> str:
    """Dot-separated tokens; in a pattern `*` is one token and `>` the final rest."""
    what = "signal pattern" if pattern else "signal channel"
    check_key(channel, what=what)
    tokens = channel.split(".")
    for index, token in enumerate(tokens):
        if not token:
            raise InvalidKeyError(f"{what} {channel!r} has an empty token between dots")
        if not pattern and ("*" in token or ">" in token):
            # As dflockd refuses them: a channel means the same on every transport.
            raise InvalidKeyError(f"{what} {channel!r} may not contain wildcards (* or >)")
        if token in ("*", ">"):
            if token == ">" and index != len(tokens) - 1:
                raise InvalidKeyError(f"{what} {channel!r}: '>' must be the last token")
        elif ("*" in token or ">" in token) and pattern:
            raise InvalidKeyError(f"{what} {channel!r}: wildcards must be whole tokens")
    return channel
