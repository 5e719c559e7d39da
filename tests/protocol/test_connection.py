import pytest
from hutch.protocol import (
    Acked,
    Committed,
    ConnectRequested,
    DisconnectRequested,
    Limits,
    Nacked,
    OutgoingMessage,
    ReceiptRequested,
    SendRequested,
    ServerConnection,
    State,
    Subscribed,
    Unsubscribed,
)
from stomp_frames import FEEDS, client_frame, connected, feed, output

frame = client_frame


@pytest.mark.parametrize("how", FEEDS)
def test_connect_then_accept_answers_connected(how: str) -> None:
    conn = ServerConnection()
    events = feed(
        conn,
        frame(
            "CONNECT", {"accept-version": "1.0,1.1,1.2", "host": "127.0.0.1", "login": "a", "passcode": "p"}
        ),
        how,
    )
    assert events == [ConnectRequested("a", "p", "127.0.0.1", events[0].headers)]
    conn.accept("s1", 0.0)
    [connected_frame] = output(conn)
    assert connected_frame.command == "CONNECTED"
    assert connected_frame.headers["version"] == "1.2"
    assert connected_frame.headers["session"] == "s1"
    assert conn.state is State.CONNECTED


@pytest.mark.parametrize(
    ("offered", "chosen"), [(None, "1.0"), ("1.1", "1.1"), ("1.0,1.1", "1.1"), ("1.2,9.9", "1.2")]
)
def test_highest_common_version_wins(offered: str | None, chosen: str) -> None:
    conn = ServerConnection()
    conn.receive_data(frame("STOMP", {"accept-version": offered} if offered else {}), 0.0)
    conn.accept("s", 0.0)
    assert output(conn)[0].headers["version"] == chosen


def test_no_common_version_is_an_error_listing_ours() -> None:
    conn = ServerConnection()
    conn.receive_data(frame("CONNECT", {"accept-version": "2.0"}), 0.0)
    [error] = output(conn)
    assert error.command == "ERROR"
    assert error.headers["message"] == "Version mismatch"
    assert error.headers["version"] == "1.0,1.1,1.2"
    assert conn.state is State.CLOSING


@pytest.mark.parametrize("how", FEEDS)
def test_subscribe_send_unsubscribe_events(how: str) -> None:
    conn = connected()
    data = (
        frame("SUBSCRIBE", {"id": "s1", "destination": "/topic/a", "ack": "client", "receipt": "r1"})
        + frame("SEND", {"destination": "/topic/a", "content-length": "3"}, b"a\x00b")
        + frame("UNSUBSCRIBE", {"id": "s1"})
    )
    events = feed(conn, data, how)
    assert [type(e) for e in events] == [Subscribed, SendRequested, Unsubscribed]
    assert (events[0].id, events[0].ack, events[0].receipt) == ("s1", "client", "r1")
    assert events[1].body == b"a\x00b"


def test_messages_carry_subscription_id_ack_and_redelivered() -> None:
    conn = connected()
    conn.receive_data(
        frame("SUBSCRIBE", {"id": "a:b", "destination": "/topic/a", "ack": "client-individual"}), 0.0
    )
    conn.send_message(OutgoingMessage("/topic/a", {}, b"x"), "a:b", token="t1")
    conn.send_message(OutgoingMessage("/topic/a", {}, b"y"), "a:b", token="t2", redelivered=True)
    first, second = output(conn)
    assert first.headers["subscription"] == "a\\cb"  # escaped on the wire
    assert first.headers["ack"] == first.headers["message-id"]
    assert (first.headers["redelivered"], second.headers["redelivered"]) == ("false", "true")
    assert first.headers["content-length"] == "1"


def test_a_message_waits_behind_frames_queued_before_it() -> None:
    conn = connected()
    conn.receive_data(frame("SUBSCRIBE", {"id": "1", "destination": "/topic/a", "receipt": "r"}), 0.0)
    conn.send_receipt("r")
    conn.send_message(OutgoingMessage("/topic/a", {}, b"x"), "1")
    assert [f.command for f in output(conn)] == ["RECEIPT", "MESSAGE"]


def test_a_message_for_a_subscription_that_is_gone_is_not_sent() -> None:
    conn = connected()
    conn.send_message(OutgoingMessage("/topic/a", {}, b"x"), "gone")
    assert conn.data_to_send(0.0) == []


def test_a_message_sent_counts_as_sent_for_heart_beats() -> None:
    conn = ServerConnection(Limits(heartbeat_floor_ms=1000))
    conn.receive_data(frame("CONNECT", {"accept-version": "1.2", "heart-beat": "0,1000"}), 0.0)
    conn.accept("s", 0.0)
    conn.receive_data(frame("SUBSCRIBE", {"id": "1", "destination": "/topic/a"}), 0.0)
    output(conn)
    conn.send_message(OutgoingMessage("/topic/a", {}, b"x"), "1")
    assert len(conn.data_to_send(0.7)) == 1
    conn.tick(1.0)  # 0.75 s after the CONNECTED a heart-beat would be due, but a MESSAGE went at 0.7
    assert conn.data_to_send(1.0) == []


def test_the_server_side_of_a_subscription_comes_back_with_its_end() -> None:
    conn = connected()
    conn.receive_data(frame("SUBSCRIBE", {"id": "1", "destination": "/topic/a"}), 0.0)
    conn.receive_data(frame("SUBSCRIBE", {"id": "2", "destination": "/topic/b"}), 0.0)
    conn.attach("1", "served-1")
    conn.attach("2", "served-2")
    conn.attach("nope", "ignored")
    assert conn.handles() == ["served-1", "served-2"]
    [ended] = conn.receive_data(frame("UNSUBSCRIBE", {"id": "1"}), 0.0)
    assert isinstance(ended, Unsubscribed) and ended.handle == "served-1"
    assert conn.handles() == ["served-2"]


def test_client_individual_acks_one_message() -> None:
    conn = connected()
    conn.receive_data(frame("SUBSCRIBE", {"id": "1", "destination": "/q", "ack": "client-individual"}), 0.0)
    for token in ("a", "b", "c"):
        conn.send_message(OutgoingMessage("/q", {}, b""), "1", token=token)
    ids = [f.headers["ack"] for f in output(conn)]
    assert conn.receive_data(frame("ACK", {"id": ids[1]}), 0.0) == [Acked(["b"])]
    assert conn.receive_data(frame("NACK", {"id": ids[0], "receipt": "r"}), 0.0) == [Nacked(["a"], True, "r")]
    assert conn.unacked_tokens() == ["c"]


def test_client_ack_is_cumulative() -> None:
    conn = connected()
    conn.receive_data(frame("SUBSCRIBE", {"id": "1", "destination": "/q", "ack": "client"}), 0.0)
    for token in ("a", "b", "c"):
        conn.send_message(OutgoingMessage("/q", {}, b""), "1", token=token)
    ids = [f.headers["ack"] for f in output(conn)]
    assert conn.receive_data(frame("ACK", {"id": ids[1]}), 0.0) == [Acked(["a", "b"])]
    assert conn.unacked_tokens() == ["c"]


def test_stomp_1_1_acks_by_message_id() -> None:
    conn = connected("1.1")
    conn.receive_data(frame("SUBSCRIBE", {"id": "1", "destination": "/q", "ack": "client"}), 0.0)
    conn.send_message(OutgoingMessage("/q", {}, b""), "1", token="a")
    [message] = output(conn)
    events = conn.receive_data(
        frame("ACK", {"subscription": "1", "message-id": message.headers["message-id"]}), 0.0
    )
    assert events == [Acked(["a"])]


def test_stomp_1_0_subscription_is_named_by_its_destination() -> None:
    conn = connected("1.0")
    [event] = conn.receive_data(frame("SUBSCRIBE", {"destination": "/topic/a"}, escaped=False), 0.0)
    assert event.id == "/topic/a"


@pytest.mark.parametrize("how", FEEDS)
def test_transaction_buffers_until_commit(how: str) -> None:
    conn = connected()
    data = (
        frame("BEGIN", {"transaction": "t", "receipt": "b"})
        + frame("SEND", {"destination": "/q", "transaction": "t"}, b"1")
        + frame("SEND", {"destination": "/q", "transaction": "t"}, b"2")
        + frame("COMMIT", {"transaction": "t", "receipt": "c"})
    )
    events = feed(conn, data, how)
    assert events[0] == ReceiptRequested("b")
    committed = events[1]
    assert isinstance(committed, Committed)
    assert [e.body for e in committed.events] == [b"1", b"2"]
    assert committed.receipt == "c"


def test_abort_drops_the_transaction() -> None:
    conn = connected()
    data = frame("BEGIN", {"transaction": "t"}) + frame(
        "SEND", {"destination": "/q", "transaction": "t"}, b"1"
    )
    data += frame("ABORT", {"transaction": "t"}) + frame("COMMIT", {"transaction": "t"})
    assert conn.receive_data(data, 0.0) == []
    assert output(conn)[0].headers["message"] == "Bad transaction"


def test_disconnect_aborts_transactions_and_returns_unacked() -> None:
    conn = connected()
    conn.receive_data(frame("SUBSCRIBE", {"id": "1", "destination": "/q", "ack": "client"}), 0.0)
    conn.send_message(OutgoingMessage("/q", {}, b""), "1", token="m")
    data = frame("BEGIN", {"transaction": "t"}) + frame(
        "SEND", {"destination": "/q", "transaction": "t"}, b"1"
    )
    data += frame("DISCONNECT", {"receipt": "bye"})
    events = conn.receive_data(data, 0.0)
    assert events == [DisconnectRequested(["m"], "bye")]
    assert conn.state is State.CLOSING
    conn.send_receipt("bye")
    assert output(conn)[-1].headers == {"receipt-id": "bye"}


ERRORS = [
    ("SEND before CONNECT", b"", frame("SEND", {"destination": "/q"}), "Illegal command"),
    ("second CONNECT", None, frame("CONNECT", {"accept-version": "1.2"}), "already connected"),
    ("SEND without destination", None, frame("SEND"), "Missing destination"),
    ("SUBSCRIBE without id", None, frame("SUBSCRIBE", {"destination": "/q"}), "Missing header"),
    (
        "bad ack mode",
        None,
        frame("SUBSCRIBE", {"id": "1", "destination": "/q", "ack": "never"}),
        "bad ack mode",
    ),
    (
        "Duplicated subscription identifier",
        None,
        frame("SUBSCRIBE", {"id": "1", "destination": "/q"}) * 2,
        "Duplicated subscription identifier",
    ),
    ("unknown subscription", None, frame("UNSUBSCRIBE", {"id": "9"}), "No subscription found"),
    ("ACK of nothing", None, frame("ACK", {"id": "9"}), "Invalid header"),
    ("ACK without id", None, frame("ACK"), "Missing header"),
    ("COMMIT of nothing", None, frame("COMMIT", {"transaction": "t"}), "Bad transaction"),
    ("BEGIN twice", None, frame("BEGIN", {"transaction": "t"}) * 2, "duplicate transaction"),
    (
        "SEND in unknown transaction",
        None,
        frame("SEND", {"destination": "/q", "transaction": "x"}),
        "Bad transaction",
    ),
    ("bad heart-beat", b"", frame("CONNECT", {"heart-beat": "soon"}), "bad heart-beat"),
    ("bad escape", None, frame("SEND", {"destination": "/q"}).replace(b"/q", b"/q\\t"), "bad header escape"),
    ("garbage", b"", b"\x16\x03\x01\x02\x00\x01\x00", "Bad command"),
    ("too large before login", b"", b"CONNECT\nh:" + b"x" * 70_000, "frame too large"),
]


@pytest.mark.parametrize("how", FEEDS)
@pytest.mark.parametrize(("name", "before", "data", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_every_violation_gives_an_error_frame_then_closing(
    name: str, before: bytes | None, data: bytes, message: str, how: str
) -> None:
    conn = (
        ServerConnection(Limits(max_header_length=100_000))
        if before == b""
        else connected(max_header_length=100_000)
    )
    events = feed(conn, data, how)
    frames = output(conn)
    assert frames[-1].command == "ERROR", (events, frames)
    assert frames[-1].headers["message"] == message
    assert conn.state is State.CLOSING
    assert conn.receive_data(frame("SEND", {"destination": "/q"}), 0.0) == []  # nothing after ERROR


def test_error_names_the_receipt_of_the_frame_at_fault() -> None:
    conn = connected()
    conn.receive_data(frame("UNSUBSCRIBE", {"id": "9", "receipt": "r9"}), 0.0)
    assert output(conn)[-1].headers["receipt-id"] == "r9"


def test_frame_limit_grows_after_login() -> None:
    conn = connected(max_frame_size=200_000)
    [event] = conn.receive_data(frame("SEND", {"destination": "/q"}, b"x" * 100_000), 0.0)
    assert len(event.body) == 100_000


def test_login_timeout() -> None:
    conn = ServerConnection(Limits(login_timeout=10), now=0.0)
    conn.tick(5.0)
    assert output(conn) == []
    conn.tick(10.5)
    assert output(conn)[0].headers["message"] == "login timeout"


def test_heart_beats_are_negotiated_with_a_floor_and_sent_when_due() -> None:
    conn = ServerConnection(Limits(heartbeat_floor_ms=1000))
    conn.receive_data(frame("CONNECT", {"accept-version": "1.2", "heart-beat": "500,2000"}), 0.0)
    conn.accept("s", 0.0)
    assert output(conn)[0].headers["heart-beat"] == "2000,1000"
    conn.tick(1.0)
    assert output(conn, 1.0) == []
    conn.tick(1.6)
    assert [f.command for f in output(conn, 1.6)] == ["HEARTBEAT"]


def test_a_silent_client_is_dropped_after_the_grace() -> None:
    conn = ServerConnection(Limits(heartbeat_floor_ms=1000, heartbeat_grace=2.0))
    conn.receive_data(frame("CONNECT", {"accept-version": "1.2", "heart-beat": "1000,0"}), 0.0)
    conn.accept("s", 0.0)
    output(conn)
    conn.receive_data(b"\n", 1.5)  # a heart-beat keeps it alive
    conn.tick(3.0)
    assert conn.state is State.CONNECTED
    conn.tick(3.6)
    assert output(conn)[-1].headers["message"] == "heart-beat timeout"


def test_next_tick_says_when_a_tick_can_next_do_something() -> None:
    conn = ServerConnection(Limits(login_timeout=10, heartbeat_floor_ms=1000, heartbeat_grace=2.0), now=0.0)
    assert conn.next_tick() == 10.0  # the login deadline
    conn.receive_data(frame("CONNECT", {"accept-version": "1.2", "heart-beat": "1000,2000"}), 1.0)
    conn.accept("s", 1.0)
    output(conn, 1.0)
    assert conn.next_tick() == 1.0 + 2.0 * 0.75  # our heart-beat, sent a little early
    conn.tick(conn.next_tick())
    output(conn, 2.5)
    assert conn.next_tick() == 1.0 + 1.0 * 2.0  # the client's deadline now comes first
    conn.receive_data(b"\n", 2.9)
    assert conn.next_tick() == 2.5 + 1.5  # its heart-beat moved its deadline
    conn.tick(10.0)
    assert output(conn)[-1].headers["message"] == "heart-beat timeout"
    assert conn.next_tick() == float("inf")  # closing: nothing more to do


def test_stomp_1_0_has_no_heart_beats() -> None:
    conn = ServerConnection()
    conn.receive_data(frame("CONNECT", {"heart-beat": "1000,1000"}), 0.0)
    conn.accept("s", 0.0)
    assert conn.send_interval == conn.receive_interval == 0


def test_a_send_in_a_transaction_is_answered_at_the_commit() -> None:
    conn = connected()
    data = frame("BEGIN", {"transaction": "t"}) + frame(
        "SEND", {"destination": "/q", "transaction": "t", "receipt": "s1"}, b"1"
    )
    assert conn.receive_data(data, 0.0) == []  # no receipt before the commit
    [committed] = conn.receive_data(frame("COMMIT", {"transaction": "t", "receipt": "c"}), 0.0)
    assert isinstance(committed, Committed) and [e.receipt for e in committed.events] == ["s1"]


def test_a_connect_ended_by_blank_lines_and_stray_nuls_between_frames_are_taken() -> None:
    conn = ServerConnection(Limits())
    data = b"CONNECT\naccept-version:1.2\nhost:/\n\n\r\n\n\x00\x00\n\x00"
    [event] = conn.receive_data(data, 0.0)
    assert isinstance(event, ConnectRequested)
    conn.accept("s", 0.0)
    [send] = conn.receive_data(b"\x00" + frame("SEND", {"destination": "/q"}, b"x"), 0.0)
    assert isinstance(send, SendRequested) and send.body == b"x"


@pytest.mark.parametrize(
    ("version", "headers", "message"),
    [
        ("1.2", {"message-id": "1"}, "Missing header"),  # 1.2 acks by `id`
        ("1.1", {"id": "1"}, "Missing header"),  # 1.0 and 1.1 by `message-id`
        ("1.1", {"message-id": "1"}, None),
    ],
)
def test_an_ack_names_its_message_as_its_version_says(
    version: str, headers: dict, message: str | None
) -> None:
    conn = connected(version)
    conn.receive_data(frame("SUBSCRIBE", {"id": "s", "destination": "/q", "ack": "client"}), 0.0)
    conn.send_message(OutgoingMessage("/q", {}, b""), "s", token="m")
    output(conn)
    events = conn.receive_data(frame("ACK", headers), 0.0)
    if message is None:
        assert events == [Acked(["m"])]
    else:
        assert output(conn)[0].headers["message"] == message


def test_a_client_message_id_on_send_is_refused() -> None:
    conn = connected()
    conn.receive_data(frame("SEND", {"destination": "/q", "message-id": "mine"}, b"x"), 0.0)
    assert output(conn)[0].headers["message"] == "Invalid header"


def test_a_durable_subscription_without_id_on_stomp_1_0_is_refused() -> None:
    conn = connected("1.0")
    headers = {"destination": "/topic/a", "persistent": "true"}
    assert conn.receive_data(frame("SUBSCRIBE", headers, escaped=False), 0.0) == []
    assert output(conn)[0].headers["message"] == "Missing Header"
