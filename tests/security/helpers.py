"""What the attacks share: fresh names, a refusal to expect, silence to check."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from backends import SECRET
from hub_server import RunningHub, WsClient
from hutch.hub.auth import mint_token
from hutch.protocol import Frame


def fresh(*people: str) -> tuple[str, ...]:
    run = uuid.uuid4().hex[:6]
    return tuple(f"{person}{run}" for person in people)


async def refused(client: WsClient, command: str, headers: dict[str, str], body: bytes = b"") -> Frame:
    """Send a frame that must be refused: the ERROR it gets (then the close)."""
    await client.send(command, {"receipt": "attempt", **headers}, body)
    error = await client.error_then_close()
    assert error.headers.get("receipt-id") == "attempt", error
    return error


async def signed_in(hub: RunningHub, user: str, *, stream: str | None = None) -> WsClient:
    """`user` connected with a token of the tests' secret; with `stream` (an ack mode), their
    stream `/exchange/<user>.subscribe` open."""
    client = await WsClient.open(hub, login=None)
    await client.send(
        "CONNECT", {"accept-version": "1.2", "login": user, "passcode": mint_token(user, SECRET)}
    )
    assert (await client.recv()).command == "CONNECTED"
    if stream is not None:
        await client.subscribe(f"/exchange/{user}.subscribe", "stream", ack=stream)
    return client


async def inbox(hub: RunningHub, user: str) -> WsClient:
    client = await WsClient.open(hub, user)
    await client.subscribe(f"/exchange/{user}.subscribe", "stream")
    return client


async def silent(client: WsClient, wait: float = 0.5) -> bool:
    """Nothing but the worker's "stored" acks arrives for `wait` seconds."""
    try:
        while True:
            frame = await client.recv(wait)
            if frame.command != "MESSAGE" or not frame.headers["destination"].endswith(".notifications"):
                raise AssertionError(f"unexpected {frame}")
    except TimeoutError:
        return True


async def chat(client: WsClient, timeout: float = 5.0) -> Frame:
    """The next conversation message (the worker's "stored" acks skipped)."""
    while True:
        frame = await client.recv(timeout)
        if not frame.headers.get("destination", "").endswith(".notifications"):
            return frame


class Api:
    """REST as `user` (a JWT of the guarded hub's secret)."""

    def __init__(self, hub: RunningHub, user: str, roles: list[str] | None = None):
        self.user = user
        self.http = httpx.AsyncClient(
            base_url=hub.url, headers={"Authorization": f"Bearer {mint_token(user, SECRET, roles=roles)}"}
        )

    async def call(self, method: str, path: str, body: Any = None, status: int = 200, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, json=body, **kwargs)
        assert response.status_code == status, (response.status_code, response.text)
        return response.json() if response.content else None

    async def refused(self, method: str, path: str, status: int, **kwargs: Any) -> dict[str, Any]:
        """A refusal: its status and the JSON error body, which says why."""
        response = await self.http.request(method, path, **kwargs)
        assert response.status_code == status, (response.status_code, response.text)
        body = response.json()
        assert body["objectType"] == "error" and body["error_description"], body
        return body
