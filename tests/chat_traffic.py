"""Chat traffic for fault tests: messages sent until the hub receipts them, the uuid kept."""

import asyncio
import uuid

from hutch.clients.python import ConnectionLost, HutchClient, Refused
from hutch.protocol import names


async def say_until_receipted(client: HutchClient, user: str, cid: str, text: str) -> None:
    """A chat message, sent again with its uuid until the hub gives a receipt for it."""
    message = {"uuid": uuid.uuid4().hex, "user": {"username": user}, "action": "add", "object": "message"}
    destination = f"/exchange/{names.publish_exchange(user)}/{names.message_key(cid)}"
    for _ in range(300):
        try:
            await client.send(destination, message | {"data": {"text": text}})
            return
        except (Refused, ConnectionLost):  # the hub's broker or store is away: not taken
            await asyncio.sleep(0.1)
    raise AssertionError(f"{text} was never receipted")
