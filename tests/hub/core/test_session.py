"""A session without a socket: bytes in, frames in its outbox, on a node with the embedded backends."""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from hub_server import OPEN_GRANTS
from hutch.hub.broker.errors import NotFound
from hutch.hub.core.session import Session
from hutch.hub.node import HubNode
from hutch.hub.settings import Settings
from hutch.protocol import Frame
from stomp_frames import client_frame, parse_server_frames


@pytest.fixture
async def node() -> AsyncIterator[HubNode]:
    settings = Settings(
        dev_mode=True, outbox_max_bytes=64 * 1024, close_timeout=0.2, permissions_file=OPEN_GRANTS
    )
    node = HubNode(settings)
    await node.start()
    yield node
    await node.stop()


def stomp(command: str, body: str = "", **headers: str) -> bytes:
    return client_frame(
        command, {name.replace("_", "-"): value for name, value in headers.items()}, body.encode()
    )


def taken(session: Session) -> list[Frame]:
    """What the session queued for its client, taken as a transport would."""
    return parse_server_frames(b"".join(session.outbox.take()))


async def connected(node: HubNode, user: str, **open_with: object) -> Session:
    session = node.open_session(f"test {user}", **open_with)
    await session.receive(stomp("CONNECT", accept_version="1.2", host="/", login=user))
    [frame] = taken(session)
    assert frame.command == "CONNECTED"
    return session


async def test_a_message_sent_by_one_session_reaches_the_subscriber_of_another(node: HubNode) -> None:
    ana, bo = await connected(node, "ana"), await connected(node, "bo")
    await bo.receive(stomp("SUBSCRIBE", id="s", destination="/topic/news", receipt="r1"))
    assert [f.headers["receipt-id"] for f in taken(bo)] == ["r1"]
    await ana.receive(stomp("SEND", "hello", destination="/topic/news", receipt="r2"))
    assert [f.command for f in taken(ana)] == ["RECEIPT"]
    await asyncio.sleep(0.05)
    [message] = taken(bo)
    assert (message.command, message.body, message.headers["subscription"]) == ("MESSAGE", b"hello", "s")


async def test_frames_waiting_call_on_ready(node: HubNode) -> None:
    told: list[str] = []
    session = node.open_session("test", on_ready=lambda: told.append("ready"))
    await session.receive(stomp("CONNECT", accept_version="1.2", host="/", login="cy"))
    assert told and session.outbox.size > 0


async def test_a_refused_frame_is_an_error_with_the_receipt_and_the_session_closes(node: HubNode) -> None:
    session = await connected(node, "ana")
    await session.receive(stomp("SEND", "x", destination="/nowhere/at/all", receipt="r9"))
    [error] = taken(session)
    assert error.command == "ERROR" and error.headers["receipt-id"] == "r9"
    assert session.outbox.finished


async def test_a_client_that_does_not_take_its_frames_is_cut_off_then_aborted(node: HubNode) -> None:
    aborted: list[bool] = []
    ana = await connected(node, "ana")
    bo = await connected(node, "bo", abort=lambda: aborted.append(True))
    await bo.receive(stomp("SUBSCRIBE", id="s", destination="/topic/big"))
    taken(bo)
    for _ in range(8):  # 8 x 10 KiB, never taken: past the 64 KiB outbox
        await ana.receive(stomp("SEND", "x" * 10_240, destination="/topic/big"))
        await asyncio.sleep(0.01)
    [error] = taken(bo)  # what waited was dropped: only the ERROR goes
    assert (error.command, error.headers["message"]) == ("ERROR", "slow consumer")
    assert not aborted
    await asyncio.sleep(0.3)
    bo.tick(asyncio.get_running_loop().time() + 1)  # past close_timeout, the client took nothing
    assert aborted


async def test_unsubscribe_ends_delivery_and_the_stream_forgets_the_subscription(node: HubNode) -> None:
    session = await connected(node, "ana")
    await session.receive(stomp("SUBSCRIBE", id="mine", destination="/exchange/ana.subscribe", receipt="r"))
    taken(session)
    assert "ana" in node.streams._open  # the user's stream is open on this node
    await session.receive(stomp("UNSUBSCRIBE", id="mine", receipt="r2"))
    assert [f.command for f in taken(session)] == ["RECEIPT"]
    assert "ana" not in node.streams._open and not node.streams._owner


async def test_closing_releases_presence_and_reply_queues(node: HubNode) -> None:
    session = await connected(node, "ana")
    assert await node.stores.presence.online(["ana"]) == {"ana": 1}
    await session.receive(stomp("SEND", "?", destination="/topic/ask", reply_to="/temp-queue/answers"))
    [queue] = session.subscriber._reply_queues.values()
    await node.broker.declare_queue(queue, passive=True)  # it exists while the session lives
    await session.close()
    assert await node.stores.presence.online(["ana"]) == {"ana": 0}
    assert session not in node.registry.sessions
    with pytest.raises(NotFound):
        await node.broker.declare_queue(queue, passive=True)


async def test_a_disconnect_ends_every_subscription(node: HubNode) -> None:
    session = await connected(node, "ana")
    await session.receive(stomp("SUBSCRIBE", id="a", destination="/topic/a"))
    await session.receive(stomp("SUBSCRIBE", id="b", destination="/exchange/ana.subscribe"))
    subscriptions = session.conn.handles()
    assert len(subscriptions) == 2
    await session.receive(stomp("DISCONNECT", receipt="bye"))
    assert all(s.cancelled for s in subscriptions)
    assert [f.command for f in taken(session)][-1] == "RECEIPT"


async def test_the_clock_sends_heart_beats_on_time_and_skips_clients_with_nothing_due(node: HubNode) -> None:
    """A login sets the deadlines, even when the clock looked at the session just before it;
    after that, what the client sends costs the clock nothing until a deadline comes."""
    session = node.open_session("test ana")
    start = time.monotonic()
    session.tick(start)  # before the login: only the login timeout (seconds away) is due
    await session.receive(stomp("CONNECT", accept_version="1.2", host="/", login="ana", heart_beat="0,1000"))
    assert [f.command for f in taken(session)] == ["CONNECTED"]
    session.tick(start + 0.8)  # the hub beats every 1,000 ms, a little early
    assert session.outbox.take() == [b"\n"]

    looked: list[float] = []
    session.conn.tick = looked.append  # type: ignore[method-assign]
    await session.receive(stomp("SUBSCRIBE", id="s", destination="/topic/news", receipt="r"))
    taken(session)
    session.tick(start + 0.5)  # the beat went out at the real time, just after `start`
    assert looked == []  # the next one is not due: nothing to look at
    session.tick(start + 1.6)
    assert looked == [start + 1.6]
