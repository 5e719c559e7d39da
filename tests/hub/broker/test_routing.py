import pytest
from hutch.hub.broker.routing import binding_matches, headers_match, topic_matches


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
