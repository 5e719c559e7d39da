"""A user's stream on one node, without a server: the conversations it carries follow the
membership in the store, on this node at once and on others through the control exchange."""

from backends import eventually
from hutch.hub.broker import topology
from hutch.hub.broker.base import Message
from hutch.hub.broker.memory import MemoryBroker
from hutch.hub.conversations.memory import MemoryConversationStore
from hutch.hub.conversations.model import Conversation
from hutch.hub.conversations.service import Conversations
from hutch.hub.core.fanout import NodeFanout
from hutch.hub.core.streams import UserStreams
from hutch.hub.core.subscriptions import LocalSubscription
from hutch.protocol import OutgoingMessage, StompError, names
from hutch.rules import Form


class Sink:
    form = Form.JSON
    has_room = True

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def send_message(
        self, message: OutgoingMessage, subscription: str, token: object = None, **_: object
    ) -> None:
        self.bodies.append(message.body)

    def when_room(self, callback: object) -> None: ...

    def overflow(self, why: str) -> None: ...

    def fail(self, error: StompError) -> None: ...


async def chat_node(node_id: str, broker: MemoryBroker, store: MemoryConversationStore) -> UserStreams:
    streams = UserStreams(broker, NodeFanout(broker, node_id), store, node_id)
    await streams.start()
    return streams


async def say(broker: MemoryBroker, cid: str, text: str) -> None:
    await broker.publish(names.CONVERSATIONS, names.message_key(cid), Message(text.encode()))


async def test_a_stream_follows_membership_on_every_node() -> None:
    broker, store = MemoryBroker(), MemoryConversationStore()
    await topology.declare_base(broker)
    await topology.declare_user(broker, "ana")
    here, there = await chat_node("n1", broker, store), await chat_node("n2", broker, store)
    await store.put_conversation(Conversation("c1", "c1", ["ana", "bo"]))
    sink = Sink()
    ana = LocalSubscription(sink, "s", "auto", 0, 100)  # type: ignore[arg-type]
    await there.open(ana, "ana")  # ana is connected to the other node
    await say(broker, "c1", "one")
    await eventually(lambda: sink.bodies == [b"one"])

    await store.put_conversation(Conversation("c1", "c1", ["bo"]))  # ana leaves, through this node
    await here.announce("c1", "ana", added=False)
    await eventually(lambda: not ana.attached_to(names.CONVERSATIONS, names.conversation_key("c1")))
    await say(broker, "c1", "two")

    await store.put_conversation(Conversation("c2", "c2", ["ana", "cy"]))
    await here.announce("c2", "ana", added=True)
    await eventually(lambda: ana.attached_to(names.CONVERSATIONS, names.conversation_key("c2")))
    await say(broker, "c2", "three")
    await eventually(lambda: sink.bodies == [b"one", b"three"])


async def test_a_cancelled_subscription_is_forgotten() -> None:
    broker, store = MemoryBroker(), MemoryConversationStore()
    await topology.declare_base(broker)
    await topology.declare_user(broker, "ana")
    streams = await chat_node("n1", broker, store)
    subscription = LocalSubscription(Sink(), "s", "auto", 0, 100)  # type: ignore[arg-type]
    await streams.open(subscription, "ana")
    await subscription.cancel()
    assert not streams._open and not streams._owner


class CountingStore(MemoryConversationStore):
    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    async def conversation(self, cid: str) -> Conversation | None:
        self.asked += 1
        return await super().conversation(cid)


async def test_a_stream_that_opens_answers_its_users_membership_until_it_changes() -> None:
    broker, store = MemoryBroker(), CountingStore()
    await topology.declare_base(broker)
    await topology.declare_user(broker, "ana")
    conversations = Conversations(store, broker)
    streams = UserStreams(
        broker,
        NodeFanout(broker, "n1"),
        store,
        "n1",
        on_change=conversations.forget_member,
        on_listed=conversations.remember_member,
    )
    await streams.start()
    await store.put_conversation(Conversation("c1", "c1", ["ana", "bo"]))
    await store.put_conversation(Conversation("c2", "c2", ["bo", "cy"]))
    await streams.open(LocalSubscription(Sink(), "s", "auto", 0, 100), "ana")  # type: ignore[arg-type]

    assert await conversations.is_member("ana", "c1")
    assert store.asked == 0  # the stream's list said so: a first SEND need not wait for the store
    assert not await conversations.is_member("ana", "c2")

    await store.put_conversation(Conversation("c1", "c1", ["bo"]))  # ana is removed on another node
    await streams.member_changed("c1", "ana")
    assert not await conversations.is_member("ana", "c1")
