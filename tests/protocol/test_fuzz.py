"""Random and mutated bytes: the parser yields frames or a protocol error, never anything else."""

from hutch.protocol import ProtocolError, ServerConnection, State
from hutch.protocol.parser import FrameParser
from hypothesis import given, settings
from hypothesis import strategies as st
from stomp_frames import client_frame

VALID = [
    client_frame("CONNECT", {"accept-version": "1.2", "host": "/"}),
    client_frame("SEND", {"destination": "/topic/a", "content-length": "3"}, b"a\x00b"),
    client_frame("SUBSCRIBE", {"id": "1", "destination": "/queue/q", "ack": "client"}),
    client_frame("ACK", {"id": "1"}),
    client_frame("BEGIN", {"transaction": "t"}),
    b"\r\n",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(b"".join(draw(st.lists(st.sampled_from(VALID), min_size=1, max_size=6))))
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(data)))
        match draw(st.sampled_from(["flip", "insert", "delete"])):
            case "flip" if at < len(data):
                data[at] = draw(st.integers(0, 255))
            case "insert":
                data[at:at] = draw(
                    st.sampled_from([b"\x00", b"\n", b":", b"\\", b"\r\n", b"\xff", b"content-length:9\n"])
                )
            case "delete" if at < len(data):
                del data[at]
    return bytes(data)


def parse_all(data: bytes, chunk: int) -> None:
    parser = FrameParser(max_frame_size=4096, max_headers=20, max_header_length=512)
    parser.escaped = True
    try:
        for i in range(0, len(data), chunk):
            parser.feed(data[i : i + chunk])
            while parser.next_frame() is not None:
                pass
    except ProtocolError as error:
        assert error.message  # every refusal says what was wrong


@settings(max_examples=400, deadline=None)
@given(data=st.one_of(st.binary(max_size=600), mutated()), chunk=st.integers(1, 64))
def test_parser_yields_frames_or_a_protocol_error(data: bytes, chunk: int) -> None:
    parse_all(data, chunk)


@settings(max_examples=300, deadline=None)
@given(data=mutated())
def test_connection_never_raises_and_errors_end_it(data: bytes) -> None:
    conn = ServerConnection()
    conn.receive_data(data, 0.0)
    conn.accept("s", 0.0)
    conn.receive_data(data, 0.0)
    out = b"".join(conn.data_to_send(0.0))
    if b"ERROR\n" in out:
        assert conn.state is State.CLOSING
        assert b"\nmessage:" in out
