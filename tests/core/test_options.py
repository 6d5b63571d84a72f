"""The shared checks behind every adapter's limit, lease and timeout options."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dflock_integrations.options import check_lease_options, seconds, whole_number


@given(st.integers(min_value=1))
def test_whole_numbers_from_one_pass(value):
    assert whole_number(value, "limit") == value


@pytest.mark.parametrize("value", [0, -3, True, False, 1.0, "2", None])
def test_anything_else_is_refused_by_name(value):
    with pytest.raises(ValueError, match=r"^@thing: limit must be a whole number >= 1, got "):
        whole_number(value, "@thing: limit")


@given(st.floats(min_value=0, allow_infinity=False) | st.integers(min_value=0))
def test_finite_non_negative_seconds_pass_as_floats(value):
    assert seconds(value, "acquire_timeout_s") == float(value)


@pytest.mark.parametrize("value", [-0.001, math.nan, math.inf, True, "1", None])
def test_bad_seconds_are_refused_by_name(value):
    with pytest.raises(ValueError, match=r"^retry_countdown_s must be a finite number"):
        seconds(value, "retry_countdown_s")


def test_none_means_the_settings_value_and_where_prefixes_every_message():
    check_lease_options(limit=None, acquire_timeout_s=None, lease_ttl_s=None)
    with pytest.raises(ValueError, match=r"^rule '/x': lease_ttl_s must be"):
        check_lease_options(lease_ttl_s=0, where="rule '/x'")
