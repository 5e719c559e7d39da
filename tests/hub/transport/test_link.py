"""The link between a socket and its session, with a stand-in transport: what is read, what is
written and when, and what a lost connection releases."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from hub_server import OPEN_GRANTS
from hutch.hub.node import HubNode
from hutch.hub.settings import Settings
from hutch.hub.transport.link import Endpoint, Link
from stomp_frames import client_frame, parse_server_frames


class Transport:
    """What a link asks of an asyncio transport, recorded."""

    def __init__(self) -> None:
        self.reading = True
        self.closed = self.aborted = False

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


class Recorder(Endpoint):
    def __init__(self) -> None:
        self.transport = Transport()  # type: ignore[assignment]
        self.writes: list[list[bytes]] = []

    def write(self, frames: list[bytes]) -> None:
        self.writes.append(frames)


@pytest.fixture
async def node() -> AsyncIterator[HubNode]:
    node = HubNode(Settings(dev_mode=True, permissions_file=OPEN_GRANTS, close_timeout=0.2))
    await node.start()
    yield node
    await node.stop()


async def passes(count: int = 5) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def linked(node: HubNode) -> tuple[Recorder, Link]:
    endpoint = Recorder()
    endpoint.link = Link(node, endpoint, "test")
    return endpoint, endpoint.link


async def test_what_a_client_sends_is_answered_in_one_write(node: HubNode) -> None:
    endpoint, link = linked(node)
    connect = client_frame("CONNECT", {"accept-version": "1.2", "host": "/", "login": "ana"})
    subscribe = client_frame("SUBSCRIBE", {"id": "1", "destination": "/topic/t", "receipt": "r"})
    link.received(connect + subscribe)
    await passes()
    assert len(endpoint.writes) == 1
    frames = parse_server_frames(b"".join(endpoint.writes[0]))
    assert [f.command for f in frames] == ["CONNECTED", "RECEIPT"]


async def test_a_full_socket_stops_reading_and_writing_until_it_has_room(node: HubNode) -> None:
    endpoint, link = linked(node)
    endpoint.pause_writing()
    assert endpoint.transport.reading is False  # its own output waits: take nothing more from it
    link.received(client_frame("CONNECT", {"accept-version": "1.2", "host": "/", "login": "ana"}))
    await passes()
    assert endpoint.writes == []
    endpoint.resume_writing()
    await passes()
    assert endpoint.transport.reading is True
    assert [f.command for f in parse_server_frames(b"".join(endpoint.writes[0]))] == ["CONNECTED"]


async def test_an_error_is_written_then_the_connection_closed(node: HubNode) -> None:
    endpoint, link = linked(node)
    link.received(b"NONSENSE\n\n\x00")
    await passes()
    [error] = parse_server_frames(b"".join(frame for write in endpoint.writes for frame in write))
    assert error.command == "ERROR"
    assert endpoint.transport.closed and not endpoint.transport.aborted


async def test_a_lost_connection_closes_its_session(node: HubNode) -> None:
    endpoint, link = linked(node)
    link.received(client_frame("CONNECT", {"accept-version": "1.2", "host": "/", "login": "ana"}))
    await passes()
    assert link.session in node.registry.sessions
    endpoint.connection_lost(None)
    link.received(b"SEND\ndestination:/topic/t\n\nlate\x00")  # after the loss: ignored
    await passes()
    assert link.session not in node.registry.sessions
    assert await node.stores.presence.online(["ana"]) == {"ana": 0}
