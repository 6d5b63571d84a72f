import pytest
from hypothesis import given
from hypothesis import strategies as st

from dflock_integrations.errors import InvalidKeyError
from dflock_integrations.keys import (
    KeyTemplate,
    check_channel,
    check_key,
    encode_value,
    prefixed,
)


@given(st.text(max_size=12_000))
def test_any_value_gives_a_valid_key(value):
    key = KeyTemplate("order:{id}").render({"id": value})
    assert check_key(key) == key
    assert len(key.encode()) <= 256


@given(st.text(max_size=300), st.text(max_size=300))
def test_distinct_values_never_share_a_key(a, b):
    if a != b:
        assert encode_value(a) != encode_value(b)


FIVE_FIELDS = KeyTemplate("stock:{a}:{b}:{c}:{d}:{e}")


@given(st.lists(st.text(max_size=300), min_size=5, max_size=5))
def test_many_long_fields_still_give_a_key_that_fits_with_any_prefix(values):
    key = FIVE_FIELDS.render(dict(zip("abcde", values, strict=True)))
    assert check_key("p" * 64 + key) == "p" * 64 + key  # the longest DFLOCK_KEY_PREFIX
    assert key.startswith("stock:")


@given(
    st.lists(st.text(min_size=40, max_size=80), min_size=5, max_size=5),
    st.lists(st.text(min_size=40, max_size=80), min_size=5, max_size=5),
)
def test_shortened_keys_stay_distinct(first, second):
    if first != second:
        render = FIVE_FIELDS.render
        assert render(dict(zip("abcde", first, strict=True))) != render(
            dict(zip("abcde", second, strict=True))
        )


@pytest.mark.parametrize("value", ["a\nl\nb", "x\r\nr\nk\n", "a b", "é✓", "x" * 10_000, ""])
def test_injection_and_odd_values(value):
    key = KeyTemplate("job:{v}:end").render({"v": value})
    assert "\n" not in key and "\r" not in key and " " not in key
    assert key.startswith("job:") and key.endswith(":end")


def test_plain_values_stay_readable():
    assert KeyTemplate("order:{order_id}").render({"order_id": 42}) == "order:42"
    assert encode_value("user@example.com") == "user@example.com"


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("has space:{x}", "whitespace"),
        ("", "must not be empty"),
        ("{x.attr}", "plain name"),
        ("{x:>5}", "plain name"),
        ("{0}", "plain name"),
        ("bad{", "key template"),
        ("k" * 300, "longer than 256"),
    ],
)
def test_bad_templates_fail_when_built(template, words):
    with pytest.raises(InvalidKeyError, match=words):
        KeyTemplate(template)


def test_missing_field_names_it():
    with pytest.raises(InvalidKeyError, match="'order_id'"):
        KeyTemplate("order:{order_id}").render({})


def test_prefix_is_checked_with_key():
    assert prefixed("app.", "k") == "app.k"
    with pytest.raises(InvalidKeyError):
        prefixed("", "a\nb")


@given(
    prefix=st.text(st.characters(codec="utf-8", exclude_categories=("Zs", "Cc")), max_size=16),
    key=st.text(max_size=80),
)
def test_prefixed_accepts_exactly_what_a_whole_check_accepts(prefix, key):
    """Its quick path for short keys lets nothing through that checking the whole
    prefixed key would refuse, and refuses nothing it would accept."""
    if check_key_or_none(prefix + "x") is None:
        return  # the settings refuse such a prefix (16 characters: 64 bytes at most)
    whole = check_key_or_none(key) is not None and check_key_or_none(prefix + key) is not None
    assert (check_or_none(prefix, key) is not None) == whole


def check_key_or_none(key):
    try:
        return check_key(key)
    except InvalidKeyError:
        return None


def check_or_none(prefix, key):
    try:
        return prefixed(prefix, key)
    except InvalidKeyError:
        return None


def test_prefixed_names_the_whole_key_when_it_is_too_long():
    prefix = "p" * 64
    assert prefixed(prefix, "é" * 48) == prefix + "é" * 48  # 64 + 96 bytes
    with pytest.raises(InvalidKeyError, match="longer than 256 bytes"):
        prefixed(prefix, "€" * 65)  # 64 + 195 bytes


@pytest.mark.parametrize("channel", ["a", "a.b.c", "celery.succeeded.app.tasks.x"])
def test_channels(channel):
    assert check_channel(channel) == channel


@pytest.mark.parametrize("pattern", ["a.*", "a.>", "*.b.>", ">"])
def test_patterns(pattern):
    assert check_channel(pattern, pattern=True) == pattern


@pytest.mark.parametrize(
    ("text", "pattern"),
    [("a.*", False), ("a..b", True), ("a.>.b", True), ("a.b*", True), (".a", True), ("a b", True)],
)
def test_bad_channels(text, pattern):
    with pytest.raises(InvalidKeyError):
        check_channel(text, pattern=pattern)
