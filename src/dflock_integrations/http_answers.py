"""Deprecated: moved to `dflock_integrations._http.answers`, the HTTP layer's own.

`HttpAnswer` is exported by `dflock_integrations.fastapi`, `.starlette` and `.django`.
"""

from dflock_integrations._deprecated import moved
from dflock_integrations._http.answers import (
    ANSWERED,
    DEFAULT_RETRY_AFTER_S,
    HttpAnswer,
    answer_for,
    log_answer,
)

__all__ = ["ANSWERED", "DEFAULT_RETRY_AFTER_S", "HttpAnswer", "answer_for", "log_answer"]

moved(
    __name__,
    "dflock_integrations._http.answers",
    instead="import HttpAnswer from dflock_integrations.fastapi, .starlette or .django",
)
