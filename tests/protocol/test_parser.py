import pytest
from hutch.protocol import Frame, ProtocolError
from hutch.protocol.errors import LimitExceeded
from hutch.protocol.parser import FrameParser


def parser(**limits: int) -> FrameParser:
    p = FrameParser(
        max_frame_size=limits.get("max_frame_size", 1024),
        max_headers=limits.get("max_headers", 10),
        max_header_length=limits.get("max_header_length", 100),
    )
    p.escaped = True
    return p


def frames_of(data: bytes, how: str, **limits: int) -> list[Frame]:
    p = parser(**limits)
    chunks = [data[i : i + 1] for i in range(len(data))] if how == "byte_by_byte" else [data]
    if how == "with_trailing_data":
        chunks = [data + b"SEND\ndestination:/q"]
    out = []
    for chunk in chunks:
        p.feed(chunk)
        while frame := p.next_frame():
            out.append(frame)
    return out


HOWS = ("whole", "byte_by_byte", "with_trailing_data")

GOOD = [
    ("lf", b"SEND\ndestination:/q\n\nhi\x00", [Frame("SEND", {"destination": "/q"}, b"hi")]),
    ("crlf", b"SEND\r\ndestination:/q\r\n\r\nhi\x00", [Frame("SEND", {"destination": "/q"}, b"hi")]),
    (
        "content-length with NULs",
        b"SEND\ndestination:/q\ncontent-length:5\n\na\x00b\x00c\x00",
        [Frame("SEND", {"destination": "/q", "content-length": "5"}, b"a\x00b\x00c")],
    ),
    ("heart-beats between frames", b"\n\r\n\nDISCONNECT\n\n\x00\n", [Frame("DISCONNECT", {})]),
    (
        "first header wins",
        b"SEND\ndestination:/a\ndestination:/b\n\n\x00",
        [Frame("SEND", {"destination": "/a"})],
    ),
    ("headers are not trimmed", b"SEND\ndestination: /a \n\n\x00", [Frame("SEND", {"destination": " /a "})]),
    (
        "escapes decoded",
        b"SEND\ndestination:/q\nx\\cy:a\\nb\n\n\x00",
        [Frame("SEND", {"destination": "/q", "x:y": "a\nb"})],
    ),
    (
        "two frames in one go",
        b"BEGIN\ntransaction:t\n\n\x00COMMIT\ntransaction:t\n\n\x00",
        [Frame("BEGIN", {"transaction": "t"}), Frame("COMMIT", {"transaction": "t"})],
    ),
    (
        "value with colons",
        b"SEND\ndestination:/exchange/x/a:b\n\n\x00",
        [Frame("SEND", {"destination": "/exchange/x/a:b"})],
    ),
]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize(("name", "data", "expected"), GOOD, ids=[g[0] for g in GOOD])
def test_good_frames(name: str, data: bytes, expected: list[Frame], how: str) -> None:
    assert frames_of(data, how) == expected


BAD = [
    ("unknown command", b"HELLO\n\n\x00", "Bad command"),
    ("lower-case command", b"send\ndestination:/q\n\n\x00", "Bad command"),
    ("bad escape", b"SEND\ndestination:/q\\t\n\n\x00", "bad header escape"),
    ("header without colon", b"SEND\ndestination\n\n\x00", "malformed header"),
    ("bad content-length", b"SEND\ncontent-length:abc\n\n\x00", "bad content-length"),
    ("content-length too short", b"SEND\ncontent-length:1\n\nabc\x00", "malformed frame"),
    ("body on SUBSCRIBE", b"SUBSCRIBE\nid:1\n\nbody\x00", "unexpected body"),
    ("NUL before blank line", b"SEND\ndestination:/q\x00\n\n", "malformed frame"),
    ("not UTF-8 header", b"SEND\ndestination:\xff\n\n\x00", "malformed frame"),
    (
        "too many headers",
        b"SEND\n" + b"".join(b"h%d:v\n" % i for i in range(11)) + b"\n\x00",
        "too many headers",
    ),
    ("header too long", b"SEND\nh:" + b"v" * 200 + b"\n\n\x00", "header too long"),
    ("frame too large", b"SEND\ndestination:/q\n\n" + b"x" * 2000 + b"\x00", "frame too large"),
    ("declared too large", b"SEND\ncontent-length:5000\n\n", "frame too large"),
    ("endless headers", b"SEND\n" + b"h:v\n" * 400, "frame too large"),
]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize(("name", "data", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_frames_raise_a_protocol_error_saying_what(
    name: str, data: bytes, message: str, how: str
) -> None:
    with pytest.raises(ProtocolError) as raised:
        frames_of(data, how, max_headers=10, max_header_length=100, max_frame_size=1024)
    assert raised.value.message == message


def test_limit_errors_are_limit_exceeded() -> None:
    with pytest.raises(LimitExceeded):
        frames_of(b"SEND\n" + b"h:v\n" * 400, "whole")


def test_connect_headers_are_not_unescaped() -> None:
    p = parser()
    p.escaped = False
    p.feed(b"CONNECT\nlogin:dom\\cuser\n\n\x00")
    assert p.next_frame() == Frame("CONNECT", {"login": "dom\\cuser"})
