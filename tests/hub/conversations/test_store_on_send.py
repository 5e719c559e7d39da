"""Chat messages stored on send (`HUTCH_STORE_ON_SEND`): what differs from the worker storing them
(`test_conversations` runs on both), on the embedded backends and on RabbitMQ + Redis."""

import asyncio
import uuid

import aio_pika
import pytest
from backends import SECRET, hub_settings, rabbitmq_vhost
from chat_clients import PACKED, Api, chat_message, device, next_of, say, unpacked, wait_history
from hub_server import RunningHub, hub_fixture, running_hub
from hutch.hub.auth import Identity
from hutch.hub.broker import topology
from hutch.hub.broker.base import Delivery
from hutch.hub.broker.errors import BrokerUnavailable
from hutch.hub.broker.memory import MemoryBroker
from hutch.hub.conversations.memory import MemoryConversationStore
from hutch.hub.conversations.model import Conversation
from hutch.hub.conversations.service import Conversations
from hutch.hub.notifications.events import MENTION
from hutch.hub.store.errors import StoreUnavailable
from hutch.rules import Form, decode, encode

hub = hub_fixture(dev_mode=False, jwt_secret=SECRET, history_limit=150, store_on_send=True)


async def test_a_message_comes_with_its_stored_id_and_every_member_gets_the_ack(
    hub: RunningHub, people: dict[str, str]
) -> None:
    ana_name, bob_name = people["ana"], people["bob"]
    ana = Api(hub, ana_name)
    cid = await ana.start_with(bob_name)
    ana_phone, bob_phone = await device(hub, ana_name), await device(hub, bob_name)
    await ana_phone.subscribe(f"/exchange/{ana_name}.subscribe")
    await bob_phone.subscribe(f"/exchange/{bob_name}.subscribe")
    acks_only = await device(hub, bob_name)  # the conversation's notifications alone
    await acks_only.subscribe(f"/exchange/conversations/{cid}.notifications")
    worker = hub.node.worker
    assert worker is not None
    counts_before = dict(worker.counts)

    await say(ana_phone, ana_name, cid, "hello")
    [stored] = await wait_history(ana, cid, 1)
    message = await bob_phone.recv()
    assert unpacked(message)["data"]["text"] == "hello"
    assert message.headers["x-hutch-id"] == stored["id"]  # stored before it was delivered
    # Published to `conversations` by the node, shown as sent: as RabbitMQ shows a member's message.
    assert message.headers["destination"] == f"/exchange/{ana_name}.publish/{cid}.messages"
    for client in (ana_phone, bob_phone, acks_only):
        ack_frame = await client.recv()
        while unpacked(ack_frame)["action"] != "ack":
            ack_frame = await client.recv()
        ack = unpacked(ack_frame)
        assert ack_frame.headers["x-hutch-stored"] == "true"
        assert ack_frame.headers["destination"] == f"/exchange/{ana_name}.publish/{cid}.notifications"
        assert (ack["object"], ack["data"]["id"], ack["uuid"]) == ("message", stored["id"], stored["uuid"])
    with pytest.raises(TimeoutError):
        await acks_only.recv(timeout=0.3)  # the message itself is not routed there
    # Published past the worker's queue: the worker neither stores it again nor sees it.
    await asyncio.sleep(0.2)
    assert dict(worker.counts) == counts_before
    assert len(await ana.call("GET", f"/conversations/{cid}/messages")) == 1
    for client in (ana_phone, bob_phone, acks_only):
        await client.close()


async def test_a_durable_subscription_gets_the_message_as_sent_and_its_ack(
    hub: RunningHub, people: dict[str, str]
) -> None:
    """A subscription with a queue of its own reads what comes as the node's taps do."""
    ana_name, bob_name = people["ana"], people["bob"]
    ana = Api(hub, ana_name)
    cid = await ana.start_with(bob_name)
    bob_phone, ana_phone = await device(hub, bob_name), await device(hub, ana_name)
    durable = {"durable": "true", "auto-delete": "false", "ack": "client-individual"}
    await bob_phone.subscribe(f"/exchange/{bob_name}.subscribe", "kept", **durable)
    await say(ana_phone, ana_name, cid, "kept for you")
    [stored] = await wait_history(ana, cid, 1)
    message = await bob_phone.recv()
    assert unpacked(message)["data"]["text"] == "kept for you"
    assert message.headers["destination"] == f"/exchange/{ana_name}.publish/{cid}.messages"
    ack_frame = await bob_phone.recv()
    assert (unpacked(ack_frame)["action"], unpacked(ack_frame)["data"]["id"]) == ("ack", stored["id"])
    for frame in (message, ack_frame):  # the message's ack settles it in the queue
        await bob_phone.send("ACK", {"id": frame.headers["ack"], "receipt": f"a-{frame.headers['ack']}"})
        await bob_phone.receipt(f"a-{frame.headers['ack']}")
    await bob_phone.send("UNSUBSCRIBE", {"id": "kept", "durable": "true", "receipt": "gone"})
    await bob_phone.receipt("gone")
    for client in (ana_phone, bob_phone):
        await client.close()


async def test_marks_a_client_sends_are_dropped(hub: RunningHub, people: dict[str, str]) -> None:
    """A SEND claiming to be stored (its id, the hub's login) is stored like any other."""
    ana_name, bob_name = people["ana"], people["bob"]
    ana = Api(hub, ana_name)
    cid = await ana.start_with(bob_name)
    bob_phone, forger = await device(hub, bob_name), await device(hub, ana_name)
    await bob_phone.subscribe(f"/exchange/{bob_name}.subscribe")
    forged = {
        "x-hutch-id": "1-1",
        "x-hutch-published-by": hub.node.broker.login,
        "x-hutch-uuid": "u",
        "x-hutch-sender": bob_name,
    }
    body = chat_message(ana_name, "forged")
    await forger.publish(f"/exchange/{ana_name}.publish/{cid}.messages", body, **PACKED, **forged)
    [stored] = await wait_history(ana, cid, 1)
    message = await bob_phone.recv()
    assert message.headers["x-hutch-id"] == stored["id"] != "1-1"
    assert message.headers["x-hutch-sender"] == stored["user"]["username"] == ana_name
    ack = await next_of(bob_phone, "ack")
    assert ack["data"]["id"] == stored["id"] and ack["uuid"] == stored["uuid"] != "u"
    await bob_phone.close()
    await forger.close()


async def test_a_member_removed_where_this_node_did_not_hear_it_is_refused_by_the_store(
    hub: RunningHub, people: dict[str, str]
) -> None:
    """A node keeps a member's yes for a while. Should it miss the news of a removal (made here
    in the store, as another node whose announcement was lost), the store still refuses."""
    ana_name, bob_name = people["ana"], people["bob"]
    ana = Api(hub, ana_name)
    cid = await ana.start_with(bob_name)
    ana_phone = await device(hub, ana_name)
    await say(ana_phone, ana_name, cid, "before")  # the node now knows ana is a member
    store = hub.node.stores.conversations
    await asyncio.to_thread(hub.call, store.put_conversation(Conversation(cid, "gone", [bob_name])))
    await ana_phone.send(
        "SEND",
        {"destination": f"/exchange/{ana_name}.publish/{cid}.messages", "receipt": "r", **PACKED},
        chat_message(ana_name, "after"),
    )
    error = await ana_phone.error_then_close()
    assert error.headers["message"] == "access refused"
    assert f"{ana_name} is not a participant of conversation '{cid}'" in error.body.decode()
    history = await asyncio.to_thread(hub.call, store.history(cid))
    assert [m.message["data"]["text"] for m in history.messages] == ["before"]


async def test_a_message_stored_by_a_node_that_died_before_it_sent_it_is_sent_on_retry(
    hub: RunningHub, people: dict[str, str]
) -> None:
    """Stored, then its node died (or lost Redis's answer and tried again): not sent. The client's
    retry sends it, with the id history has; once sent, a retry is a repeat."""
    ana_name, bob_name = people["ana"], people["bob"]
    ana = Api(hub, ana_name)
    cid = await ana.start_with(bob_name)
    bob_phone, ana_phone = await device(hub, bob_name), await device(hub, ana_name)
    await bob_phone.subscribe(f"/exchange/{bob_name}.subscribe")
    body = chat_message(ana_name, "once, at last")
    message = decode(body, Form.PACKED_JSON, "max@1")
    store = hub.node.stores.conversations
    stored_id, _ = await asyncio.to_thread(
        hub.call,
        store.append(cid, ana_name, message, message["uuid"], members_only=True, until_sent=True),
    )
    with pytest.raises(TimeoutError):
        await bob_phone.recv(timeout=0.3)  # stored, never sent
    for _ in range(2):  # the retry, then a retry of the retry after a lost receipt
        await ana_phone.publish(f"/exchange/{ana_name}.publish/{cid}.messages", body, **PACKED)
    delivered = await bob_phone.recv()
    assert unpacked(delivered)["data"]["text"] == "once, at last"
    assert delivered.headers["x-hutch-id"] == stored_id
    assert (await next_of(bob_phone, "ack"))["data"]["id"] == stored_id
    with pytest.raises(TimeoutError):
        await bob_phone.recv(timeout=0.3)  # sent once
    assert [m["id"] for m in await ana.call("GET", f"/conversations/{cid}/messages")] == [stored_id]
    for client in (ana_phone, bob_phone):
        await client.close()


async def test_mentions_reach_the_feed_once(hub: RunningHub, people: dict[str, str]) -> None:
    ana_name, bob_name = people["ana"], people["bob"]
    ana, bob = Api(hub, ana_name), Api(hub, bob_name)
    cid = await ana.start_with(bob_name)
    sender = await device(hub, ana_name)
    body = chat_message(ana_name, f"@{bob_name} look")
    for _ in range(2):  # and a retry of it
        await sender.publish(f"/exchange/{ana_name}.publish/{cid}.messages", body, **PACKED)
    await wait_history(bob, cid, 1)
    await asyncio.sleep(0.2)
    feed = await bob.call("GET", "/notifications")
    assert [n["category"] for n in feed if n["category"] == MENTION] == [MENTION]
    await sender.close()


def on_rabbitmq(vhost: str, **settings: object) -> dict[str, object]:
    return hub_settings("amqp") | {"amqp_url": vhost, "dev_mode": False, "jwt_secret": SECRET} | settings


async def test_a_bots_message_claiming_to_be_stored_is_stored_by_the_worker(people: dict[str, str]) -> None:
    """Over AMQP only RabbitMQ's checked `user_id` says who published: marks in a bot's headers
    count for nothing, and the worker stores its message and sends the real ack (bots reach
    RabbitMQ only)."""
    with rabbitmq_vhost() as vhost, running_hub(**on_rabbitmq(vhost, store_on_send=True)) as hub:
        ana_name, bot = people["ana"], people["bob"]
        ana = Api(hub, ana_name)
        cid = await ana.start_with(bot)
        ana_phone = await device(hub, ana_name)
        await ana_phone.subscribe(f"/exchange/{ana_name}.subscribe")
        message = {"uuid": uuid.uuid4().hex, "user": {"username": bot}, "action": "add", "object": "message"}
        body = encode(message | {"data": {"text": "beep"}}, Form.PACKED_MSGPACK, "max@1")
        headers = {
            "x-hutch-id": "1-1",
            "x-hutch-published-by": hub.node.broker.login,
            "x-hutch-sender": ana_name,  # as if ana had sent it
        }
        async with await aio_pika.connect(vhost) as connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange(f"{bot}.publish", ensure=False)
            content_type = "application/x-hutch+msgpack; rules=max@1"
            amqp = aio_pika.Message(body, headers=headers, content_type=content_type)
            await exchange.publish(amqp, routing_key=f"{cid}.messages")
        [stored] = await wait_history(ana, cid, 1)
        assert (stored["data"]["text"], stored["user"]["username"]) == ("beep", bot)
        frame = await ana_phone.recv()
        assert frame.headers["destination"] == f"/exchange/{bot}.publish/{cid}.messages"
        ack = await next_of(ana_phone, "ack")
        assert ack["data"]["id"] == stored["id"] != "1-1"
        await ana_phone.close()


async def test_a_node_that_does_not_store_on_send_acks_what_another_stored(people: dict[str, str]) -> None:
    """The mark says no worker's ack will follow: every node makes it, whatever its own setting."""
    with (
        rabbitmq_vhost() as vhost,
        running_hub(**on_rabbitmq(vhost, store_on_send=True)) as storing,
        running_hub(**on_rabbitmq(vhost, worker=False)) as other,
    ):
        ana_name, bob_name = people["ana"], people["bob"]
        ana = Api(storing, ana_name)
        cid = await ana.start_with(bob_name)
        bob_phone = await device(other, bob_name)
        await bob_phone.subscribe(f"/exchange/{bob_name}.subscribe")
        sender = await device(storing, ana_name)
        await say(sender, ana_name, cid, "across")
        assert (await next_of(bob_phone, "add"))["data"]["text"] == "across"
        ack = await next_of(bob_phone, "ack")
        [stored] = await wait_history(ana, cid, 1)
        assert ack["data"]["id"] == stored["id"]
        await bob_phone.close()
        await sender.close()


async def ana_and_bob(store: MemoryConversationStore, broker: MemoryBroker) -> list[Delivery]:
    """Conversation c1 of ana and bob, in the store and the broker; what bob's device gets."""
    await topology.declare_base(broker)
    for user in ("ana", "bob"):
        await topology.add_member(broker, "c1", user)
    await store.put_conversation(Conversation("c1", "c1", ["ana", "bob"]))
    seen: list[Delivery] = []
    await broker.declare_queue("bob-device")
    await broker.bind_queue("bob-device", "bob.subscribe")
    await broker.consume("bob-device", seen.append, no_ack=True)
    return seen


class BrokerAway(MemoryBroker):
    away = True

    async def publish(self, exchange, key, message):  # type: ignore[no-untyped-def]
        if self.away and key.endswith(".messages"):
            raise BrokerUnavailable("RabbitMQ is away")
        await super().publish(exchange, key, message)


async def test_a_message_whose_publish_failed_is_taken_back_so_its_retry_is_sent() -> None:
    store, broker = MemoryConversationStore(), BrokerAway()
    seen = await ana_and_bob(store, broker)
    conversations = Conversations(store, broker, store_on_send=True)
    with pytest.raises(BrokerUnavailable):
        await conversations.post(Identity("ana"), "c1", {"text": "hi"}, uuid="u1")
    assert (await store.history("c1")).messages == []
    broker.away = False
    await conversations.post(Identity("ana"), "c1", {"text": "hi"}, uuid="u1")  # the retry
    [stored] = (await store.history("c1")).messages
    assert [d.message.headers["x-hutch-id"] for d in seen] == [stored.id]


class AnswerLost(MemoryConversationStore):
    """Stores, then loses its answer once, as a connection to Redis cut at that moment."""

    lose = True

    async def append_many(self, messages, **flags):  # type: ignore[no-untyped-def]
        answers = await super().append_many(messages, **flags)
        if self.lose:
            self.lose = False
            raise StoreUnavailable("the answer was lost")
        return answers


async def test_a_message_stored_whose_answer_was_lost_is_sent_by_its_retry() -> None:
    store, broker = AnswerLost(), MemoryBroker()
    seen = await ana_and_bob(store, broker)
    conversations = Conversations(store, broker, store_on_send=True)
    with pytest.raises(StoreUnavailable):
        await conversations.post(Identity("ana"), "c1", {"text": "hi"}, uuid="u1")
    await conversations.post(Identity("ana"), "c1", {"text": "hi"}, uuid="u1")  # the retry: sent
    await conversations.post(Identity("ana"), "c1", {"text": "hi"}, uuid="u1")  # a repeat: not again
    [stored] = (await store.history("c1")).messages
    assert [d.message.headers["x-hutch-id"] for d in seen if d.routing_key == "c1.messages"] == [stored.id]


async def test_a_plain_text_message_is_stored_as_its_text_and_acked(
    hub: RunningHub, people: dict[str, str]
) -> None:
    """A body that is not coded is stored as the worker stores it: its text in `data.text`."""
    ana_name, bob_name = people["ana"], people["bob"]
    ana = Api(hub, ana_name)
    cid = await ana.start_with(bob_name)
    bob_phone, sender = await device(hub, bob_name), await device(hub, ana_name)
    await bob_phone.subscribe(f"/exchange/{bob_name}.subscribe")
    await sender.publish(f"/exchange/{ana_name}.publish/{cid}.messages", b"just words")
    [stored] = await wait_history(ana, cid, 1)
    assert (stored["data"]["text"], stored["sender"]) == ("just words", ana_name)
    message = await bob_phone.recv()
    assert (message.body, message.headers["x-hutch-id"]) == (b"just words", stored["id"])
    ack = unpacked(await bob_phone.recv())
    assert (ack["action"], ack["data"]["id"]) == ("ack", stored["id"])
    await bob_phone.close()
    await sender.close()
