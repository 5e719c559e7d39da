"""The hub says who sent a message and what its ids are; a client cannot say it for it."""

import json

from hub_server import RunningHub, WsClient, join
from hutch.rules import Form, decode
from security.helpers import Api, chat, fresh, inbox, refused

JSON = {"content-type": "application/json; rules=max@1"}


def message(**fields: object) -> bytes:
    return json.dumps({"action": "add", "object": "message", "data": {"text": "hi"}, **fields}).encode()


async def test_the_sender_and_hub_headers_cannot_be_forged_over_stomp(guarded: RunningHub) -> None:
    mallory, bob = fresh("mallory", "bob")
    cid = fresh("c")[0]
    join(guarded, cid, mallory, bob)
    sender, receiver = await inbox(guarded, mallory), await inbox(guarded, bob)
    forged = {
        "x-hutch-id": "99999999999999-0",
        "x-hutch-replay": "true",
        "x-recovered": "true",
        "x-replayed": "5",
        "user-id": bob,
        "subscription": "stream-of-someone",
        "x-app": "kept",
    }
    body = message(user={"username": bob, "displayname": "Bob"})
    await sender.publish(f"/exchange/{mallory}.publish/{cid}.messages", body, **JSON, **forged)
    received = await chat(receiver)
    shown = decode(received.body, Form.PACKED_JSON, "max@1")  # the form a client gets by default
    assert shown["user"] == {"username": mallory, "displayname": "Bob"}
    for header in ("x-hutch-replay", "x-recovered", "x-replayed", "user-id"):
        assert header not in received.headers, header
    assert received.headers["subscription"] == "stream"
    assert received.headers["x-app"] == "kept"
    # Stored on send, the message carries its history id: the hub's, never the one sent.
    [stored] = await Api(guarded, bob).call("GET", f"/api/conversations/{cid}/messages")
    assert received.headers["x-hutch-id"] == stored["id"] != forged["x-hutch-id"]
    await sender.close()
    await receiver.close()


async def test_a_send_naming_its_own_message_id_is_refused(guarded: RunningHub) -> None:
    mallory, bob = fresh("mallory", "bob")
    cid = fresh("c")[0]
    join(guarded, cid, mallory, bob)
    sender = await WsClient.open(guarded, mallory)
    destination = f"/exchange/{mallory}.publish/{cid}.messages"
    error = await refused(sender, "SEND", {"destination": destination, "message-id": "forged"}, message())
    assert error.headers["message"] == "Invalid header"


async def test_history_shows_the_real_sender_and_id(guarded: RunningHub) -> None:
    mallory, bob = fresh("mallory", "bob")
    cid = fresh("c")[0]
    join(guarded, cid, mallory, bob)
    sender = await inbox(guarded, mallory)
    body = message(id="1-1", sender=bob, objectType="fake", user={"username": bob})
    await sender.publish(f"/exchange/{mallory}.publish/{cid}.messages", body, **JSON)
    await chat(sender)
    api = Api(guarded, bob)
    for _ in range(50):
        history = await api.call("GET", f"/api/conversations/{cid}/messages")
        if history:
            break
    [item] = history
    assert item["sender"] == mallory
    assert item["id"] != "1-1"
    assert item["objectType"] == "message"
    assert item["user"]["username"] == mallory
    summary = next(c for c in await api.call("GET", "/api/conversations") if c["id"] == cid)
    assert summary["lastMessage"]["sender"] == mallory
    await sender.close()


async def test_a_rest_message_is_stamped_too(guarded: RunningHub) -> None:
    mallory, bob = fresh("mallory", "bob")
    api = Api(guarded, mallory)
    cid = (await api.call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
    receiver = await inbox(guarded, bob)
    sent = await api.call(
        "POST",
        f"/api/conversations/{cid}/messages",
        {"data": {"text": "hi"}, "user": {"username": bob}},
        status=201,
    )
    assert sent["user"]["username"] == mallory
    received = decode((await chat(receiver)).body, Form.PACKED_JSON, "max@1")
    assert received["user"]["username"] == mallory
    await receiver.close()
