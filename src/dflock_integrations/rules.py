"""Deprecated: moved to `dflock_integrations._http.rules`, the HTTP layer's own.

`Rule` is exported by `dflock_integrations.fastapi`, `.starlette` and `.django`.
"""

from dflock_integrations._deprecated import moved
from dflock_integrations._http.rules import Rule, coerce_rules, first_match, with_head

__all__ = ["Rule", "coerce_rules", "first_match", "with_head"]

moved(
    __name__,
    "dflock_integrations._http.rules",
    instead="import Rule from dflock_integrations.fastapi, .starlette or .django",
)
