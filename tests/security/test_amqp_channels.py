"""What one client asks for cannot grow the node's AMQP connection: channels stay a handful."""

from collections.abc import Iterator

import pytest
from backends import hub_settings
from hub_server import RunningHub, WsClient, running_hub
from security.helpers import fresh, refused


@pytest.fixture(scope="module")
def rabbit() -> Iterator[RunningHub]:
    with running_hub(**hub_settings("amqp") | {"permissions_file": None}) as hub:
        yield hub


def channels(hub: RunningHub) -> int:
    connection = hub.node.broker._connection  # the aiormq connection under aio-pika's
    assert connection is not None
    return len(connection.transport.connection.channels)


async def test_distinct_prefetch_counts_share_one_channel(rabbit: RunningHub) -> None:
    (me,) = fresh("mallory")
    client = await WsClient.open(rabbit, me)
    await client.subscribe(f"/queue/{me}:first", "first", ack="client", **{"prefetch-count": "1"})
    before = channels(rabbit)
    for prefetch in range(2, 60):
        await client.subscribe(
            f"/queue/{me}:q{prefetch}", str(prefetch), ack="client", **{"prefetch-count": str(prefetch)}
        )
    assert channels(rabbit) <= before + 1  # a scratch channel may be open at the moment
    # Each consumer still gets what it asked for: two unacked at most on a prefetch of 2.
    for number in range(4):
        await client.publish(f"/queue/{me}:q2", b"%d" % number)
    first, second = await client.recv(), await client.recv()
    assert (first.body, second.body) == (b"0", b"1")
    try:
        extra = await client.recv(0.5)
        raise AssertionError(f"a third message beyond the prefetch of 2: {extra}")
    except TimeoutError:
        pass
    await client.send("ACK", {"id": first.headers["ack"], "receipt": "a"})
    await client.receipt("a")
    assert (await client.recv()).body == b"2"
    await client.close()
    assert rabbit.node.broker_up


async def test_a_prefetch_past_amqps_range_is_refused_and_leaks_nothing(rabbit: RunningHub) -> None:
    before = channels(rabbit)
    for _ in range(5):
        (me,) = fresh("mallory")
        client = await WsClient.open(rabbit, me)
        error = await refused(
            client, "SUBSCRIBE", {"id": "1", "destination": f"/queue/{me}:q", "prefetch-count": "65536"}
        )
        assert error.headers["message"] == "bad prefetch-count"
    assert channels(rabbit) <= before + 1
    assert rabbit.node.broker_up
