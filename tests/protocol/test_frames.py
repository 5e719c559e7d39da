import pytest
from hutch.protocol import Frame, OutgoingMessage, ProtocolError
from hutch.protocol.frames import escape, serialize, unescape
from stomp_frames import parse_server_frames


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("plain", "plain"),
        ("a\\cb", "a:b"),
        ("line\\nbreak", "line\nbreak"),
        ("cr\\r", "cr\r"),
        ("back\\\\slash", "back\\slash"),
    ],
)
def test_unescape_decodes_the_four_escapes(raw: str, decoded: str) -> None:
    assert unescape(raw) == decoded
    assert escape(decoded) == raw


@pytest.mark.parametrize("raw", ["tab\\t", "end\\", "\\x41"])
def test_undefined_escapes_are_fatal(raw: str) -> None:
    with pytest.raises(ProtocolError, match="bad header escape"):
        unescape(raw)


def test_serialized_frames_carry_content_length_with_a_body() -> None:
    data = serialize(Frame("ERROR", {"message": "a:b"}, b"x\x00y"))
    assert data == b"ERROR\nmessage:a\\cb\ncontent-length:3\n\nx\x00y\x00"


def test_stomp_1_0_frames_are_not_escaped_but_never_break_lines() -> None:
    data = serialize(Frame("RECEIPT", {"receipt-id": "a:b\nc"}), escaped=False)
    assert data == b"RECEIPT\nreceipt-id:a:b c\n\n\x00"


def test_outgoing_message_shares_its_tail_between_recipients() -> None:
    message = OutgoingMessage("/topic/a", {"subscription": "spoofed", "x-app": "1"}, b"hi")
    assert message.tail(True) is message.tail(True)
    [frame] = parse_server_frames(
        b"MESSAGE\nsubscription:7\nmessage-id:1\nredelivered:false\n" + message.tail(True)
    )
    assert frame.headers == {
        "subscription": "7",
        "message-id": "1",
        "redelivered": "false",
        "destination": "/topic/a",
        "x-app": "1",
        "content-length": "2",
    }
    assert frame.body == b"hi"


def test_outgoing_message_knows_whether_its_body_is_text() -> None:
    assert OutgoingMessage("/topic/a", {}, "é".encode()).is_text
    assert not OutgoingMessage("/topic/a", {}, b"\xff\xfe").is_text
