"""The shared HTTP answers and middleware rules, without any framework."""

import pytest

from dflock_integrations import InvalidKeyError, LockTimeout, ServerUnavailable
from dflock_integrations._http.answers import answer_for, log_answer
from dflock_integrations._http.hold import Hold
from dflock_integrations._http.limiters import MultiLockHold, RateLimitHold
from dflock_integrations._http.rules import Rule, coerce_rules, first_match
from dflock_integrations.client import LockMode, Rate
from dflock_integrations.errors import (
    AuthenticationError,
    ConfigurationError,
    LimitMismatchError,
    MaxLocksError,
    MaxWaitersError,
    ProtocolError,
    RateLimited,
    ServerError,
    SignalsUnsupported,
    describe,
)


def test_lock_timeout_is_423():
    answer = answer_for(LockTimeout("x", key="order:1", timeout_s=2), retry_after_s=2.5)
    assert answer.status == 423
    assert answer.headers == {"Retry-After": "3"}
    assert answer.body["error"] == "locked"
    assert answer.body["key"] == "order:1"


def test_full_semaphore_is_429():
    answer = answer_for(LockTimeout("x", key="pdf", timeout_s=1, limit=4))
    assert answer.status == 429
    assert answer.body["limit"] == 4
    assert answer.headers["Retry-After"] == "1"


@pytest.mark.parametrize(("retry_after_s", "header"), [(0.2, "1"), (1.0, "1"), (2.01, "3")])
def test_rate_limited_is_429_with_its_own_retry_after(retry_after_s, header):
    exc = RateLimited(
        "api:7 over 5/1s at 10.0.0.7", key="api:7", timeout_s=0, retry_after_s=retry_after_s
    )
    # The limiter's estimate wins over the entry point's default Retry-After.
    answer = answer_for(exc, retry_after_s=30)
    assert answer.status == 429
    assert answer.headers == {"Retry-After": header}
    assert answer.body["error"] == "rate_limited"
    assert "10.0.0.7" not in str(answer.body)
    assert str(exc) not in str(answer.body)


def test_unreachable_is_503_without_the_address():
    answer = answer_for(ServerUnavailable("cannot reach 10.0.0.7:6388", server="10.0.0.7:6388"))
    assert answer.status == 503
    assert "10.0.0.7" not in str(answer.body)


def test_other_errors_are_not_answered():
    assert answer_for(ValueError("bug")) is None
    assert answer_for(InvalidKeyError("a bad key is a bug")) is None


@pytest.mark.parametrize(
    ("exc", "status", "error", "retry"),
    [
        (
            AuthenticationError("the server requires an auth token"),
            503,
            "coordination_unavailable",
            True,
        ),
        (MaxLocksError("error_max_locks (key 'k')"), 503, "coordination_unavailable", True),
        (LimitMismatchError("error_limit_mismatch (key 'k')"), 503, "limit_conflict", True),
        (SignalsUnsupported("dflockd 2.x has no signals"), 501, "signals_unsupported", False),
        (ProtocolError("unexpected answer 'zz'"), 502, "coordination_error", False),
        (ServerError("error_something_new (key 'k')"), 502, "coordination_error", False),
        (
            ConfigurationError("DFLOCK_LEASE_TTL_S: must be > 0"),
            500,
            "coordination_misconfigured",
            False,
        ),
    ],
)
def test_every_dflock_failure_has_an_answer_that_tells_nothing_internal(exc, status, error, retry):
    answer = answer_for(exc)
    assert (answer.status, answer.body["error"]) == (status, error)
    assert ("Retry-After" in answer.headers) is retry
    assert str(exc) not in str(answer.body)  # tokens, keys, variables stay in the log


def test_a_5xx_is_logged_with_its_reason_and_a_refusal_is_not(caplog):
    timeout = LockTimeout("x", key="k", timeout_s=0)
    log_answer(timeout, answer_for(timeout), "GET", "/a")
    bare = ServerUnavailable("")  # no message: the class still names the reason
    log_answer(bare, answer_for(bare), "POST", "/b")
    assert [r.getMessage() for r in caplog.records] == [
        "dflock: POST /b answered 503 (coordination_unavailable): ServerUnavailable"
    ]


def test_describe_keeps_the_reason_of_an_exception_without_a_message():
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(OSError("refused")) == "OSError: refused"


def test_the_servers_waiter_cap_is_a_429_without_the_key():
    answer = answer_for(MaxWaitersError("error_max_waiters (key 'shop.secret-tenant:9')"))
    assert answer.status == 429
    assert answer.body["error"] == "too_many_waiting"
    assert "secret-tenant" not in str(answer.body)


def test_a_get_rule_guards_head_which_runs_the_same_handler():
    rule = Rule("/reports/{name}", key="report:{name}", methods={"get"})
    assert first_match([rule], "HEAD", "/reports/q3") == (rule, "report:q3")
    assert first_match([rule], "POST", "/reports/q3") is None


def test_rule_matches_and_fills_the_key():
    rule = Rule("/orders/{order_id}/pay", key="order:{order_id}", methods={"post"})
    assert rule.match("POST", "/orders/42/pay") == "order:42"
    assert rule.match("GET", "/orders/42/pay") is None
    assert rule.match("POST", "/orders/42/pay/extra") is None
    assert rule.match("POST", "/orders/a b/pay") == "order:a%20b"


def test_first_match_and_dict_rules():
    rules = coerce_rules(
        [
            {"path": "/reports/{name}", "key": "report:{name}", "limit": 2},
            Rule("/{anything}", key="catch-all"),
        ]
    )
    rule, key = first_match(rules, "GET", "/reports/q3")
    assert (rule.limit, key) == (2, "report:q3")
    assert first_match(rules, "GET", "/x")[1] == "catch-all"
    assert first_match(rules, "GET", "/a/b") is None


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"path": "orders/{id}", "key": "o:{id}"}, "must start with '/'"),
        ({"path": "/orders/{id}", "key": "o:{other}"}, "does not capture"),
        ({"path": "/x", "key": "has space"}, "whitespace"),
        ({"path": "/x", "key": "k", "limit": 0}, "limit"),
        # Checked here, or a bad rule would be a 500 on the first matching request.
        ({"path": "/x", "key": "k", "lease_ttl_s": 0}, r"rule '/x': lease_ttl_s"),
        ({"path": "/x", "key": "k", "acquire_timeout_s": -1}, r"rule '/x': acquire_timeout_s"),
        ({"path": "/x", "key": "k", "acquire_timeout_s": float("nan")}, "acquire_timeout_s"),
        # One kind per rule, and each kind's own options.
        (
            {"path": "/x", "key": "k", "rate": "5/s", "limit": 2},
            r"rule '/x': limit= and rate= cannot be combined; expected one of limit=",
        ),
        (
            {"path": "/x", "key": "k", "max_shared": 4, "limit": 2},
            r"rule '/x': limit= and max_shared= cannot be combined",
        ),
        (
            {"path": "/x", "key": "k", "max_shared": 4, "rate": "5/s"},
            r"rule '/x': max_shared= and rate= cannot be combined",
        ),
        ({"path": "/x", "key": "k", "mode": "shared"}, r"rule '/x': mode= needs max_shared="),
        (
            {"path": "/x", "key": "k", "rate": "5/s", "mode": "shared"},
            r"rule '/x': mode= needs max_shared=",
        ),
        ({"path": "/x", "key": "k", "max_shared": 0}, r"rule '/x': max_shared must be a whole"),
        (
            {"path": "/x", "key": "k", "max_shared": 2, "mode": "read"},
            r"rule '/x': lock mode 'read': expected LockMode.SHARED",
        ),
        ({"path": "/x", "key": "k", "rate": "5/week"}, r"rule '/x': rate '5/week': expected"),
        (
            {"path": "/x", "key": "k", "rate": "5/s", "lease_ttl_s": 3},
            r"rule '/x': lease_ttl_s does not apply to a rate limit",
        ),
        (
            {"path": "/x", "key": "k", "rate": "5/s", "acquire_timeout_s": -1},
            r"rule '/x': acquire_timeout_s",
        ),
    ],
)
def test_bad_rules_fail_when_built(kwargs, words):
    with pytest.raises((InvalidKeyError, ValueError), match=words):
        Rule(**kwargs)


def test_rules_of_each_kind_build_their_hold():
    lock, slots, shared, by_method, limited = coerce_rules(
        [
            {"path": "/a", "key": "a"},
            {"path": "/b", "key": "b", "limit": 2},
            {"path": "/c", "key": "c", "max_shared": 3, "mode": "shared"},
            {"path": "/d/{id}", "key": "doc:{id}", "max_shared": 3},
            {"path": "/e", "key": "e", "rate": "5/s"},
        ]
    )
    assert type(lock.hold) is Hold and lock.hold.limit is None and lock.hold.label == "a"
    assert type(slots.hold) is Hold and slots.hold.limit == 2
    assert isinstance(shared.hold, MultiLockHold)
    assert shared.mode is LockMode.SHARED and shared.hold.mode is LockMode.SHARED
    assert shared.hold.for_method("DELETE").mode is LockMode.SHARED  # fixed: not by method
    assert by_method.hold.label == "doc:{id}"  # the template, never a filled key
    assert by_method.hold.mode is None
    for method in ("GET", "head", "OPTIONS"):
        assert by_method.hold.for_method(method).mode is LockMode.SHARED
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert by_method.hold.for_method(method).mode is LockMode.EXCLUSIVE
    assert isinstance(limited.hold, RateLimitHold)
    assert limited.hold.rate == Rate(5, 1)
    assert limited.hold.acquire_timeout_s == 0  # over budget: 429 at once
