"""The destination grammar of RabbitMQ's STOMP plugins, without a server."""

import pytest
from hutch.protocol import StompError
from hutch.protocol.destinations import Destination, Kind, destination_of, parse_destination


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("/exchange/amq.direct/key", Destination(Kind.EXCHANGE, "amq.direct", "key")),
        ("/exchange/ana:chat", Destination(Kind.EXCHANGE, "ana:chat", "")),
        ("/topic/a.b.*", Destination(Kind.TOPIC, "amq.topic", "a.b.*")),
        ("/queue/work", Destination(Kind.QUEUE, "", "work", "work")),
        ("/amq/queue/jobs", Destination(Kind.AMQ_QUEUE, "", "jobs", "jobs")),
        ("/temp-queue/answers", Destination(Kind.TEMP_QUEUE, "", "", "answers")),
        ("/reply-queue/amq.gen-1", Destination(Kind.REPLY_QUEUE, "", "amq.gen-1", "amq.gen-1")),
    ],
)
def test_each_kind(raw: str, parsed: Destination) -> None:
    assert parse_destination(raw) == parsed


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("/nowhere/x", "Unknown destination"),
        ("/queue/", "Invalid destination"),
        ("/exchange//key", "Invalid destination"),
        ("/queue/bah/baz", "Invalid destination"),  # as RabbitMQ: a name is one path segment
        ("/topic/bah/baz", "Invalid destination"),
        ("/exchange/amq.direct/baz/boo", "Invalid destination"),
        ("/amq/queue/a/b", "Invalid destination"),
        ("/queue/" + "q" * 128, "Invalid destination"),  # AMQP names are at most 127 characters
        ("/queue/with space", "Invalid destination"),
        ("/topic/" + "k" * 256, "Invalid destination"),  # routing keys are at most 255 bytes
    ],
)
def test_what_is_refused(raw: str, message: str) -> None:
    with pytest.raises(StompError) as refused:
        parse_destination(raw)
    assert refused.value.message == message


@pytest.mark.parametrize(
    ("exchange", "key", "shown"),
    [
        ("amq.topic", "a.b", "/topic/a.b"),
        ("", "work", "/queue/work"),
        ("x", "k", "/exchange/x/k"),
        ("x", "", "/exchange/x"),
    ],
)
def test_a_delivery_shows_the_destination_a_client_would_use(exchange: str, key: str, shown: str) -> None:
    assert destination_of(exchange, key) == shown
    if exchange != "":
        parsed = parse_destination(shown)
        assert (parsed.exchange, parsed.key) == (exchange, key)
