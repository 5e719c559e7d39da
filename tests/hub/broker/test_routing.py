import hypothesis.strategies as st
import pytest
from hutch.hub.broker.routing import binding_matches, headers_match, topic_matches
from hypothesis import given


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("a.b", "a.b", True),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.*", "a", False),
        ("a.#", "a", True),
        ("a.#", "a.b.c", True),
        ("#", "", True),
        ("#", "x.y", True),
        ("#.c", "c", True),
        ("#.c", "a.b.c", True),
        ("a.#.c", "a.c", True),
        ("a.#.c", "a.x.y.c", True),
        ("a.#.c", "a.x.y.d", False),
        ("*.*", "a", False),
        ("*", "", True),
        ("cid1.*", "cid1.messages", True),
        ("cid1.*", "cid10.messages", False),
    ],
)
def test_topic_matching_follows_amqp(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


def test_headers_matching_all_and_any() -> None:
    assert headers_match({"a": "1", "b": "2"}, {"a": "1", "b": "2", "c": "3"})
    assert not headers_match({"a": "1", "b": "2"}, {"a": "1"})
    assert headers_match({"x-match": "any", "a": "1", "b": "2"}, {"b": "2"})
    assert not headers_match({"x-match": "any", "a": "1"}, {"a": "0"})


def test_direct_and_fanout() -> None:
    assert binding_matches("direct", "k", "k")
    assert not binding_matches("direct", "k", "k2")
    assert binding_matches("fanout", "ignored", "anything")


def _reference(pattern: list[str], key: list[str]) -> bool:
    """The definition, by recursion: exponential, fine for a handful of words."""
    if not pattern:
        return not key
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_reference(rest, key[skip:]) for skip in range(len(key) + 1))
    return bool(key) and head in ("*", key[0]) and _reference(rest, key[1:])


WORDS = st.sampled_from(["a", "b", "*", "#"])


@given(
    st.lists(WORDS, min_size=1, max_size=7),
    st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=7),
)
def test_topic_matching_agrees_with_the_definition(pattern: list[str], key: list[str]) -> None:
    assert topic_matches(".".join(pattern), ".".join(key)) is _reference(pattern, [w for w in key])


def test_many_hashes_against_a_long_key_is_answered() -> None:
    """Super-linear matchers take seconds here; bench/topic_match.py measures it."""
    assert topic_matches("#." * 500 + "z", ".".join(["w"] * 2000)) is False
    assert topic_matches("#." * 500 + "z", ".".join(["w"] * 2000) + ".z") is True
