"""Middleware rules: which requests take which lock, semaphore, multilock or rate limit.

Shared by the ASGI middleware and the Django middleware. A rule's path uses the
same `{name}` fields as a key template; the fields it captures fill the key. The
rule's options are checked when it is built, into the `Hold` the middleware takes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dflock_integrations._http.hold import Hold
from dflock_integrations._http.limiters import hold_for
from dflock_integrations.client import LockMode
from dflock_integrations.errors import InvalidKeyError
from dflock_integrations.keys import KeyTemplate

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Rule:
    """`Rule("/orders/{order_id}", key="order:{order_id}", methods={"POST"})`.

    A path field matches one path segment. The rule takes a lock; with `limit`, one of
    `limit` semaphore slots; with `max_shared`, a multilock in `mode` (None: GET, HEAD
    and OPTIONS shared, other methods exclusive); with `rate` ("5/s"), an admission
    (429 with Retry-After at once over budget, unless `acquire_timeout_s` says to wait).
    """

    path: str
    key: str
    methods: frozenset[str] | None = None
    limit: int | None = None
    acquire_timeout_s: float | None = None
    lease_ttl_s: int | None = None
    max_shared: int | None = None
    mode: LockMode | None = None
    rate: str | None = None
    template: KeyTemplate = field(init=False, repr=False, compare=False)
    hold: Hold = field(init=False, repr=False, compare=False)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        path: str,
        key: str,
        *,
        methods: Iterable[str] | None = None,
        limit: int | None = None,
        acquire_timeout_s: float | None = None,
        lease_ttl_s: int | None = None,
        max_shared: int | None = None,
        mode: LockMode | str | None = None,
        rate: str | None = None,
    ) -> None:
        if not path.startswith("/"):
            raise InvalidKeyError(f"rule path {path!r} must start with '/'")
        hold = hold_for(
            where=f"rule {path!r}",
            limit=limit,
            max_shared=max_shared,
            mode=mode,
            rate=rate,
            label=key,
            acquire_timeout_s=acquire_timeout_s,
            lease_ttl_s=lease_ttl_s,
        )
        template = KeyTemplate(key)
        captured = set(_FIELD.findall(path))
        missing = set(template.fields) - captured
        if missing:
            raise InvalidKeyError(
                f"rule {path!r}: key {key!r} uses {sorted(missing)}, "
                "which the path does not capture"
            )
        pattern = "".join(
            f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part)
            for i, part in enumerate(_FIELD.split(path))
        )
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "key", key)
        object.__setattr__(
            self, "methods", with_head(frozenset(m.upper() for m in methods)) if methods else None
        )
        object.__setattr__(self, "limit", limit)
        object.__setattr__(self, "acquire_timeout_s", acquire_timeout_s)
        object.__setattr__(self, "lease_ttl_s", lease_ttl_s)
        object.__setattr__(self, "max_shared", max_shared)
        object.__setattr__(self, "mode", None if mode is None else LockMode.of(mode))
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "template", template)
        object.__setattr__(self, "hold", hold)
        object.__setattr__(self, "_regex", re.compile(pattern + r"\Z"))

    def match(self, method: str, path: str) -> str | None:
        """The key this request takes, or None when the rule does not apply."""
        if self.methods is not None and method.upper() not in self.methods:
            return None
        found = self._regex.match(path)
        return None if found is None else self.template.render(found.groupdict())


def first_match(rules: Iterable[Rule], method: str, path: str) -> tuple[Rule, str] | None:
    for rule in rules:
        key = rule.match(method, path)
        if key is not None:
            return rule, key
    return None


def coerce_rules(rules: Iterable[Rule | dict[str, Any]]) -> tuple[Rule, ...]:
    """Rules given as `Rule` objects or dicts (as in Django settings), validated now."""
    return tuple(r if isinstance(r, Rule) else Rule(**r) for r in rules)


def with_head(methods: frozenset[str]) -> frozenset[str]:
    """`methods`, with HEAD when they include GET.

    Starlette, FastAPI and Django answer HEAD with the GET handler: whatever guards GET
    must guard HEAD too, or the same code runs unguarded.
    """
    return methods | {"HEAD"} if "GET" in methods else methods
