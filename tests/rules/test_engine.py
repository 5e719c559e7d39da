import json
from pathlib import Path

import pytest
from hutch.rules import CodecError, Form, codec_for, compile_rule_set, decode, encode, packing, parse_rule_set
from hutch.rules.packing import convert, parse_content_type

VECTORS = json.loads((Path(__file__).parents[2] / "rules" / "vectors.json").read_text())
MAX = codec_for("max@1")


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_shared_vectors(case: dict) -> None:
    assert MAX.pack(case["message"]) == case["packed"]
    assert MAX.unpack(case["packed"]) == case["message"]


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
@pytest.mark.parametrize("form", list(Form))
def test_every_form_round_trips(case: dict, form: Form) -> None:
    assert decode(encode(case["message"], form, "max@1"), form, "max@1") == case["message"]


def test_the_max_envelope_packs_as_maxcarrot_does() -> None:
    human = {
        "uuid": "005fab55bee84", "user": {"username": "johndoe", "displayname": "John Doe"}, "action": "add",
        "object": "message", "data": {"text": "Hello world!"}, "source": "ios", "domain": "demo",
        "version": "4.0.1", "published": "2015-07-21",
    }  # fmt: skip
    assert MAX.pack(human) == {
        "g": "005fab55bee84", "u": {"u": "johndoe", "d": "John Doe"}, "a": "a", "o": "m",
        "d": {"text": "Hello world!"}, "s": "i", "i": "demo", "v": "4.0.1", "p": "2015-07-21",
    }  # fmt: skip


def test_strict_mode_refuses_what_it_does_not_know() -> None:
    strict = codec_for("max@1", strict=True)
    assert strict.unpack(strict.pack({"action": "add"})) == {"action": "add"}
    with pytest.raises(CodecError, match="reactions"):
        strict.pack({"action": "add", "reactions": 1})
    with pytest.raises(CodecError, match="archive"):
        strict.pack({"action": "archive"})
    with pytest.raises(CodecError, match="avatar"):
        strict.pack({"user": {"avatar": "x"}})


@pytest.mark.parametrize(
    ("packed", "problem"),
    [
        ({"zz": 1}, "no field with id 'zz'"),
        ({"a": "?"}, "not a code of action"),
        ({"u": {"q": 1}}, "no inner key"),
        ([], "is an object"),
    ],
)
def test_unpack_says_what_is_wrong(packed: object, problem: str) -> None:
    with pytest.raises(CodecError, match=problem):
        MAX.unpack(packed)  # type: ignore[arg-type]


def test_defaults_are_left_out_and_filled_in_and_absence_survives() -> None:
    chat = compile_rule_set(
        parse_rule_set(
            {"name": "chat", "version": 1, "fields": {
                "kind": {"id": "k", "type": "char", "values": {"text": "t", "image": "i"}, "default": "text"},
                "body": {"id": "b", "type": "string"},
            }},
            "chat@1.json",
        )
    )  # fmt: skip
    assert chat.pack({"kind": "text", "body": "hi"}) == {"b": "hi"}
    assert chat.unpack({"b": "hi"}) == {"kind": "text", "body": "hi"}
    assert chat.unpack(chat.pack({"body": "no kind"})) == {"body": "no kind"}
    assert chat.unpack(chat.pack({"kind": "image"})) == {"kind": "image"}


def test_content_types_name_the_rule_set() -> None:
    assert parse_content_type("application/x-hutch+msgpack; rules=max@1") == (Form.PACKED_MSGPACK, "max@1")
    assert parse_content_type("application/json; rules=max@1") == (Form.JSON, "max@1")
    assert parse_content_type("application/json") is None
    assert parse_content_type("text/plain") is None


def test_conversion_between_forms() -> None:
    message = VECTORS["cases"][1]["message"]
    msgpack_body = encode(message, Form.PACKED_MSGPACK, "max@1")
    as_json = convert(msgpack_body, Form.PACKED_MSGPACK, Form.PACKED_JSON, "max@1")
    assert json.loads(as_json) == MAX.pack(message)
    assert decode(convert(as_json, Form.PACKED_JSON, Form.JSON, "max@1"), Form.JSON, "max@1") == message


@pytest.mark.parametrize("case", range(len(VECTORS["cases"])))
def test_a_body_packed_here_converts_as_any_other(case: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """msgpack this process packed is converted from the packed message it still holds: same bytes."""
    message = VECTORS["cases"][case]["message"]
    body = encode(message, Form.PACKED_MSGPACK, "max@1")
    for target in (Form.PACKED_JSON, Form.JSON):
        remembered = convert(body, Form.PACKED_MSGPACK, target, "max@1")
        with monkeypatch.context() as patch:  # a body from elsewhere: unpacked, checked, converted
            patch.setattr(packing, "_recently_packed", packing._RecentlyPacked())
            assert remembered == convert(body, Form.PACKED_MSGPACK, target, "max@1")
        assert decode(remembered, target, "max@1") == message
    assert decode(body, Form.PACKED_MSGPACK, "max@1") == message  # the packed message was left as it was


def test_packed_sizes_against_plain_json() -> None:
    message = VECTORS["cases"][1]["message"]
    plain = len(json.dumps(message, separators=(",", ":"), ensure_ascii=False))
    assert len(encode(message, Form.PACKED_JSON, "max@1")) <= 0.70 * plain
    assert len(encode(message, Form.PACKED_MSGPACK, "max@1")) <= 0.45 * plain


def test_unknown_rule_set() -> None:
    with pytest.raises(CodecError, match="unknown rule set 'max@9'"):
        encode({}, Form.PACKED_JSON, "max@9")
