"""Subscribing to every destination kind, and sending to it, through stomp.py over WebSocket and plain TCP."""

import uuid

import pytest
from hub_server import RunningHub, stomp_py
from hutch.hub.broker.base import Message
from hutch.hub.broker.errors import NotFound

TRANSPORTS = ["ws", "tcp"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("subscribe_to", "send_to", "shown_as"),
    [
        ("/topic/{n}", "/topic/{n}", "/topic/{n}"),
        ("/topic/{n}.*", "/topic/{n}.x", "/topic/{n}.x"),
        ("/topic/{n}.#", "/topic/{n}.a.b", "/topic/{n}.a.b"),
        ("/queue/{n}", "/queue/{n}", "/queue/{n}"),
    ],
)
def test_subscribe_send_receive(
    hub: RunningHub, transport: str, subscribe_to: str, send_to: str, shown_as: str
) -> None:
    name = unique("d")
    receiver, received = stomp_py(hub, transport, "bob")
    sender, sender_events = stomp_py(hub, transport, "alice")
    receiver.subscribe(subscribe_to.format(n=name), id="s1", ack="auto", headers={"receipt": "ready"})
    assert received.receipt() == "ready"
    sender.send(send_to.format(n=name), "héllo", headers={"x-app": "demo", "receipt": "sent"})
    assert sender_events.receipt() == "sent"
    message = received.message()
    assert message.body == "héllo"
    assert message.headers["destination"] == shown_as.format(n=name)
    assert message.headers["subscription"] == "s1"
    assert message.headers["x-app"] == "demo"
    assert message.headers["redelivered"] == "false"
    assert message.headers["content-length"] == str(len("héllo".encode()))
    assert "message-id" in message.headers
    assert received.nothing_more()
    receiver.disconnect()
    sender.disconnect()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_topic_key_that_does_not_match_is_not_delivered(hub: RunningHub, transport: str) -> None:
    name = unique("t")
    conn, events = stomp_py(hub, transport)
    conn.subscribe(f"/topic/{name}.*", id="1", headers={"receipt": "r"})
    events.receipt()
    conn.send(f"/topic/{name}.a.b", "too deep")
    conn.send(f"/topic/{name}.a", "one word", headers={"receipt": "s"})
    events.receipt()
    assert events.message().body == "one word"
    assert events.nothing_more()
    conn.disconnect()


def test_exchange_of_every_type(hub: RunningHub) -> None:
    topic, direct, fanout, headers = (unique(k) for k in ("topic", "direct", "fanout", "headers"))
    hub.call(hub.node.broker.declare_exchange(topic, "topic"))
    hub.call(hub.node.broker.declare_exchange(direct, "direct"))
    hub.call(hub.node.broker.declare_exchange(fanout, "fanout"))
    hub.call(hub.node.broker.declare_exchange(headers, "headers"))
    conn, events = stomp_py(hub, "ws")
    for number, destination in enumerate(
        [f"/exchange/{topic}/a.*", f"/exchange/{direct}/k", f"/exchange/{fanout}", f"/exchange/{headers}"]
    ):
        conn.subscribe(destination, id=str(number), headers={"receipt": f"r{number}"})
        events.receipt()
    conn.send(f"/exchange/{topic}/a.b", "topic")
    conn.send(f"/exchange/{direct}/k", "direct")
    conn.send(f"/exchange/{direct}/other", "lost")
    conn.send(f"/exchange/{fanout}/any", "fanout")
    conn.send(f"/exchange/{headers}", "headers", headers={"receipt": "done"})
    events.receipt()
    got = sorted(events.message().body for _ in range(4))
    assert got == ["direct", "fanout", "headers", "topic"]
    assert events.nothing_more()
    conn.disconnect()


def test_exchange_to_exchange_binding_delivers_once(hub: RunningHub) -> None:
    source, middle = unique("src"), unique("mid")
    hub.call(hub.node.broker.declare_exchange(source, "topic"))
    hub.call(hub.node.broker.declare_exchange(middle, "fanout"))
    hub.call(hub.node.broker.bind_exchange(middle, source, "a.*"))
    hub.call(hub.node.broker.bind_exchange(middle, source, "*.b"))  # a second path for a.b
    conn, events = stomp_py(hub, "ws")
    conn.subscribe(f"/exchange/{middle}", id="1", headers={"receipt": "r"})
    events.receipt()
    conn.send(f"/exchange/{source}/a.b", "once", headers={"receipt": "s"})
    events.receipt()
    message = events.message()
    assert (message.body, message.headers["destination"]) == ("once", f"/exchange/{source}/a.b")
    assert events.nothing_more()
    conn.disconnect()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_amq_queue_must_exist(hub: RunningHub, transport: str) -> None:
    name = unique("existing")
    hub.call(hub.node.broker.declare_queue(name, durable=True))
    hub.call(hub.node.broker.publish("", name, Message(b"waiting")))
    conn, events = stomp_py(hub, transport)
    conn.subscribe(f"/amq/queue/{name}", id="1")
    assert events.message().body == "waiting"
    conn.disconnect()

    conn, events = stomp_py(hub, transport)
    conn.subscribe(f"/amq/queue/{unique('missing')}", id="1")
    error = events.errors.get(timeout=5)
    assert error.headers["message"] == "not_found"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_queue_deleted_under_a_subscription_ends_it_with_an_error(hub: RunningHub, transport: str) -> None:
    name = unique("doomed")
    hub.call(hub.node.broker.declare_queue(name, durable=True))
    conn, events = stomp_py(hub, transport)
    conn.subscribe(f"/amq/queue/{name}", id="7", headers={"receipt": "r"})
    events.receipt()
    hub.call(hub.node.broker.delete_queue(name))
    error = events.errors.get(timeout=5)
    assert error.headers["message"] == "Server cancelled subscription"
    assert error.headers["subscription"] == "7"
    assert name in error.body


def test_queue_is_shared_round_robin(hub: RunningHub) -> None:
    name = unique("work")
    (a, a_events), (b, b_events) = stomp_py(hub, "tcp"), stomp_py(hub, "ws")
    for conn, events in ((a, a_events), (b, b_events)):
        conn.subscribe(f"/queue/{name}", id="1", headers={"receipt": "r"})
        events.receipt()
    for number in range(4):
        a.send(f"/queue/{name}", str(number))
    got_a = [a_events.message().body for _ in range(2)]
    got_b = [b_events.message().body for _ in range(2)]
    assert sorted(got_a + got_b) == ["0", "1", "2", "3"]
    a.disconnect()
    b.disconnect()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_temp_queue_reply_to(hub: RunningHub, transport: str) -> None:
    service = unique("service")
    server, requests = stomp_py(hub, transport, "server")
    server.subscribe(f"/queue/{service}", id="1", headers={"receipt": "r"})
    requests.receipt()
    client, replies = stomp_py(hub, transport, "client")
    client.send(f"/queue/{service}", "ping", headers={"reply-to": "/temp-queue/answers"})
    request = requests.message()
    assert request.headers["reply-to"].startswith("/reply-queue/")
    server.send(request.headers["reply-to"], "pong")
    reply = replies.message()
    assert reply.body == "pong"
    assert reply.headers["subscription"] == "/temp-queue/answers"
    client.disconnect()
    server.disconnect()


def test_temp_queue_cannot_be_subscribed(hub: RunningHub) -> None:
    conn, events = stomp_py(hub, "ws")
    conn.subscribe("/temp-queue/x", id="1")
    assert events.errors.get(timeout=5).headers["message"] == "Invalid destination"


def test_durable_subscription_keeps_messages_while_away(hub: RunningHub) -> None:
    topic = unique("durable")
    durable = {"durable": "true", "auto-delete": "false", "receipt": "r"}
    conn, events = stomp_py(hub, "ws", "dora")
    conn.subscribe(f"/topic/{topic}", id="news", headers=durable)
    events.receipt()
    conn.disconnect()

    sender, sent = stomp_py(hub, "tcp", "sam")
    sender.send(f"/topic/{topic}", "while you were away", headers={"persistent": "true", "receipt": "p"})
    assert sent.receipt() == "p"

    conn, events = stomp_py(hub, "ws", "dora")
    conn.subscribe(f"/topic/{topic}", id="news", headers=durable)
    message = events.message()
    assert (message.body, message.headers["persistent"]) == ("while you were away", "true")
    conn.unsubscribe("news", headers={"durable": "true", "receipt": "u"})
    events.receipt()
    conn.disconnect()
    sender.send(f"/topic/{topic}", "after the end", headers={"receipt": "p2"})
    sent.receipt()
    queue = "stomp-subscription-dora-news"
    with pytest.raises(NotFound):
        hub.call(hub.node.broker.declare_queue(queue, passive=True))
    sender.disconnect()
