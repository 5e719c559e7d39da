"""An asyncio client for hutch: STOMP over WebSocket with reconnect and recovery, and the REST API.

async with HutchClient("ws://127.0.0.1:8000/ws", "alice", token) as hub:
    stream = await hub.subscribe("/exchange/alice.subscribe", recover=True)
    await hub.send("/exchange/alice.publish/c1.messages", {"data": {"text": "hi"}})
    async for message in stream:
        print(message.data())

async with HutchAPI("http://127.0.0.1:8000", token) as api:
    conversation = await api.create_conversation(["bob"])
"""

from hutch.clients.python.api import HutchAPI
from hutch.clients.python.client import HutchClient, Message, Subscription
from hutch.clients.python.errors import APIError, ConnectionLost, HutchError, Refused

__all__ = [
    "APIError",
    "ConnectionLost",
    "HutchAPI",
    "HutchClient",
    "HutchError",
    "Message",
    "Refused",
    "Subscription",
]
