"""Chat over raw STOMP-over-WebSocket and REST, as the conversations tests speak it."""

import asyncio
import json
import uuid

import httpx
import pytest
from backends import SECRET
from hub_server import RunningHub, WsClient
from hutch.hub.auth import mint_token
from hutch.protocol import Frame
from hutch.rules import Form, decode

PACKED = {"content-type": "application/x-hutch+json; rules=max@1"}


@pytest.fixture
def people() -> dict[str, str]:
    run = uuid.uuid4().hex[:6]
    return {name: f"{name}{run}" for name in ("ana", "bob", "cy", "dee")}


class Api:
    def __init__(self, hub: RunningHub, user: str, roles: list[str] | None = None):
        self.user = user
        self.http = httpx.AsyncClient(
            base_url=f"{hub.url}/api",
            headers={"Authorization": f"Bearer {mint_token(user, SECRET, roles=roles)}"},
        )

    async def call(self, method: str, path: str, body: object = None, status: int = 200) -> object:
        response = await self.http.request(method, path, json=body)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    async def start_with(self, *others: str) -> str:
        """A new conversation of this user and `others`: its id."""
        started = await self.call("POST", "/conversations", {"participants": list(others)}, status=201)
        return started["id"]  # type: ignore[index]


async def device(hub: RunningHub, user: str, **headers: str) -> WsClient:
    client = await WsClient.open(hub, login=None)
    await client.send(
        "CONNECT", {"accept-version": "1.2", "login": user, "passcode": mint_token(user, SECRET), **headers}
    )
    assert (await client.recv()).command == "CONNECTED"
    return client


def chat_message(user: str, text: str) -> bytes:
    message = {
        "uuid": uuid.uuid4().hex,
        "user": {"username": user},
        "action": "add",
        "object": "message",
        "data": {"text": text},
    }
    return json.dumps(
        {"g": message["uuid"], "u": {"u": user}, "a": "a", "o": "m", "d": message["data"]}
    ).encode()


async def say(client: WsClient, user: str, cid: str, text: str) -> None:
    await client.publish(f"/exchange/{user}.publish/{cid}.messages", chat_message(user, text), **PACKED)


def unpacked(frame: Frame) -> dict:
    return decode(frame.body, Form.PACKED_JSON, "max@1")


async def next_of(client: WsClient, action: str, timeout: float = 5.0) -> dict:
    """The next message of this action ("add" for chat, "ack" for stored, "read" for read receipts)."""
    while True:
        message = unpacked(await client.recv(timeout))
        if message.get("action") == action:
            return message


async def wait_history(api: Api, cid: str, count: int) -> list[dict]:
    for _ in range(200):
        found = await api.call("GET", f"/conversations/{cid}/messages?limit=200")
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"history never reached {count} messages")
