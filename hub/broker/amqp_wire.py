"""The client side of the lane's AMQP 0-9-1 connection, sans I/O: bytes in, events out.

A node publishes every chat message and waits for RabbitMQ's confirm before the receipt, and
takes every message of its conversations from its own queues. Through aiormq each publish took
a lock, a timeout, a queue to a writer task and a future store, each frame received an
iterator step and a channel reader task, each delivery a task of its own: more of the node's
CPU than anything else it does with a message, and deliveries waited several turns of the
event loop while new SENDs were read in one. Here a publish is three frames written into a
buffer, and a confirm or a delivery is read off the buffer in the turn it arrived. pamqp
encodes and decodes what is not on that path (the handshake, message properties).

Two channels: 1 publishes in confirm mode, 2 consumes (with acks or without). RabbitMQ closes a channel
when it refuses something on it (an exchange that is gone, a `user_id` that is not the login,
a queue that is gone): the owner is told, and the channel opens again by itself. On channel 1
every publish not yet confirmed is lost; on channel 2 the consumer that was refused is
dropped and the others consume again; a delivery of the channel's earlier opening is not
acked on the new one (RabbitMQ has put it back in its queue).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pamqp import commands, constants, frame
from pamqp.base import Frame
from pamqp.header import ContentHeader, ProtocolHeader
from pamqp.heartbeat import Heartbeat

PUBLISHING, CONSUMING = 1, 2  # the channels
FRAME_HEADER = struct.Struct(">BHI")
FRAME_END = b"\xce"
_METHOD = struct.Struct(">HH")  # class, method
_SHORT = struct.Struct(">H")
_BASIC_ACK = (60, 80)
_BASIC_NACK = (60, 120)
_BASIC_DELIVER = (60, 60)
_TAG_AND_BITS = struct.Struct(">QB")
_SETTLE = struct.Struct(">HHQB")  # class, method, delivery tag, bits
_CONTENT_HEADER_MAX = 64 * 1024  # far above any properties the hub sends


class ProtocolError(Exception):
    """RabbitMQ sent what no AMQP 0-9-1 server sends: the connection cannot go on."""


@dataclass(frozen=True)
class Ready:
    """The publishing channel is open: publishes may go (delivery tags start at 1 again)."""


@dataclass(frozen=True)
class Confirmed:
    """RabbitMQ took (`ok`) or refused the publish `tag`, and every earlier one if `multiple`."""

    tag: int
    multiple: bool
    ok: bool


@dataclass(frozen=True)
class PublishRefused:
    """RabbitMQ closed the publishing channel: every publish not yet confirmed is lost."""

    code: int
    text: str


@dataclass(frozen=True)
class Delivered:
    consumer: str  # its tag
    delivery_tag: int
    opening: int  # of the consuming channel: its delivery tags count on that opening only
    exchange: str
    routing_key: str
    redelivered: bool
    properties: commands.Basic.Properties
    body: bytes


@dataclass(frozen=True)
class Consuming:
    """RabbitMQ started the consumer `tag`: the queue's messages go to it from now on."""

    tag: str


@dataclass(frozen=True)
class ConsumerEnded:
    """The consumer `tag` gets nothing more: RabbitMQ refused it, cancelled it (its queue was
    deleted) or confirmed our cancel (`code` 200)."""

    tag: str
    code: int
    text: str


@dataclass(frozen=True)
class ConnectionClosed:
    """RabbitMQ closed the connection (a refused login, a shutdown): nothing more will come."""

    code: int
    text: str


Event = Ready | Confirmed | PublishRefused | Delivered | Consuming | ConsumerEnded | ConnectionClosed


class LaneConnection:
    def __init__(self, login: str, password: str, vhost: str, *, heartbeat: int = 60):
        self.login, self.password, self.vhost = login, password, vhost
        self.heartbeat = heartbeat  # seconds, lowered to RabbitMQ's if it asks for less
        self.frame_max = 0  # what the connection's Tune sets; 0 until then
        self.next_tag = 1
        # tag -> (queue, prefetch, acked): consumed again whenever channel 2 reopens
        self.consumers: dict[str, tuple[str, int, bool]] = {}
        self.opening = 0  # of the consuming channel
        self._open_channels: set[int] = set()
        self._consuming: list[str] = []  # tags sent in Basic.Consume and not answered yet, in order
        self._incoming = bytearray()
        self._delivery: tuple[Delivered, ContentHeader | None, list[bytes]] | None = None
        self._outgoing: list[bytes] = [ProtocolHeader().marshal()]

    # -- out -----------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Publishes may go."""
        return PUBLISHING in self._open_channels

    @property
    def has_data_to_send(self) -> bool:
        return bool(self._outgoing)

    def data_to_send(self) -> bytes:
        out, self._outgoing = self._outgoing, []
        return b"".join(out)

    def publish(self, exchange: str, key: str, properties: commands.Basic.Properties, body: bytes) -> int:
        """Queue one publish (not mandatory: unroutable, it is dropped); its delivery tag."""
        assert self.ready, "publish only while ready"
        method = b"".join(
            (_METHOD.pack(60, 40), b"\x00\x00", _short_string(exchange), _short_string(key), b"\x00")
        )
        header = ContentHeader(0, len(body), properties).marshal()
        if len(header) > _CONTENT_HEADER_MAX:
            raise ValueError("the message's headers are too large for AMQP")
        out = self._outgoing
        out.append(_frame(constants.FRAME_METHOD, PUBLISHING, method))
        out.append(_frame(constants.FRAME_HEADER, PUBLISHING, header))
        most = self.frame_max - 8  # a body frame's header and end byte
        for start in range(0, len(body), most):
            out.append(_frame(constants.FRAME_BODY, PUBLISHING, body[start : start + most]))
        tag, self.next_tag = self.next_tag, self.next_tag + 1
        return tag

    def consume(self, queue: str, tag: str, *, prefetch: int = 0, acked: bool = False) -> None:
        """Consume `queue` under the consumer tag `tag` (the caller's, unique); `acked`, with at
        most `prefetch` unacked deliveries (0: no limit)."""
        self.consumers[tag] = (queue, prefetch, acked)
        if CONSUMING in self._open_channels:
            self._send_consume(tag)

    def ack(self, delivery_tag: int, opening: int) -> None:
        self._settle(_BASIC_ACK, delivery_tag, opening, 0)

    def nack(self, delivery_tag: int, opening: int, *, requeue: bool) -> None:
        self._settle(_BASIC_NACK, delivery_tag, opening, 2 if requeue else 0)  # requeue is bit 1

    def _settle(self, method: tuple[int, int], delivery_tag: int, opening: int, bits: int) -> None:
        if opening == self.opening and CONSUMING in self._open_channels:
            payload = _SETTLE.pack(*method, delivery_tag, bits)
            self._outgoing.append(_frame(constants.FRAME_METHOD, CONSUMING, payload))

    def cancel(self, tag: str) -> None:
        if self.consumers.pop(tag, None) is not None and CONSUMING in self._open_channels:
            self._send(CONSUMING, commands.Basic.Cancel(consumer_tag=tag))

    def send_heartbeat(self) -> None:
        self._outgoing.append(Heartbeat().marshal())

    def close(self) -> None:
        self._open_channels.clear()
        self._send(0, commands.Connection.Close(200, "the hub node is closing", 0, 0))

    # -- in ------------------------------------------------------------------

    def receive(self, data: bytes) -> list[Event]:
        buffer = self._incoming
        buffer += data
        events: list[Event] = []
        at = 0
        while len(buffer) - at >= 8:
            kind, channel, size = FRAME_HEADER.unpack_from(buffer, at)
            whole, start, end = at, at + 7, at + 7 + size
            if len(buffer) <= end:
                break
            if buffer[end] != 0xCE:
                raise ProtocolError("an AMQP frame without its end byte")
            at = end + 1
            if kind == constants.FRAME_METHOD:
                method = _METHOD.unpack_from(buffer, start)
                if method == _BASIC_DELIVER:
                    self._delivery = (_deliver(bytes(buffer[start + 4 : end]), self.opening), None, [])
                elif method in (_BASIC_ACK, _BASIC_NACK):
                    tag, bits = _TAG_AND_BITS.unpack_from(buffer, start + 4)
                    events.append(Confirmed(tag, bool(bits & 1), method == _BASIC_ACK))
                else:
                    self._on_method(channel, frame.unmarshal(bytes(buffer[whole:at]))[2], events)
            elif kind == constants.FRAME_HEADER and self._delivery is not None:
                delivered, _, chunks = self._delivery
                header = ContentHeader()
                header.unmarshal(bytes(buffer[start:end]))
                self._delivery = (delivered, header, chunks)
                self._deliver_if_whole(events)
            elif kind == constants.FRAME_BODY and self._delivery is not None:
                self._delivery[2].append(bytes(buffer[start:end]))
                self._deliver_if_whole(events)
            elif kind not in (constants.FRAME_HEARTBEAT, constants.FRAME_HEADER, constants.FRAME_BODY):
                raise ProtocolError(f"an AMQP frame of unknown type {kind}")
        del buffer[:at]
        return events

    def _deliver_if_whole(self, events: list[Event]) -> None:
        assert self._delivery is not None
        delivered, header, chunks = self._delivery
        if header is None or sum(map(len, chunks)) < header.body_size:
            return
        self._delivery = None
        events.append(
            Delivered(
                delivered.consumer,
                delivered.delivery_tag,
                delivered.opening,
                delivered.exchange,
                delivered.routing_key,
                delivered.redelivered,
                header.properties,
                b"".join(chunks),
            )
        )

    def _on_method(self, channel: int, received: object, events: list[Event]) -> None:
        match received:
            case commands.Connection.Start():
                self._send(
                    0,
                    commands.Connection.StartOk(
                        client_properties={
                            "product": "hutch",
                            "capabilities": {
                                "authentication_failure_close": True,
                                "consumer_cancel_notify": True,
                                "publisher_confirms": True,
                            },
                        },
                        mechanism="PLAIN",
                        response=f"\0{self.login}\0{self.password}",
                    ),
                )
            case commands.Connection.Tune(frame_max=frame_max, heartbeat=asked):
                self.frame_max = frame_max or constants.FRAME_MAX_SIZE
                if asked and self.heartbeat:
                    self.heartbeat = min(asked, self.heartbeat)
                self._send(0, commands.Connection.TuneOk(2, self.frame_max, self.heartbeat))
                self._send(0, commands.Connection.Open(virtual_host=self.vhost))
            case commands.Connection.OpenOk():
                self._send(PUBLISHING, commands.Channel.Open())
                self._send(CONSUMING, commands.Channel.Open())
            case commands.Channel.OpenOk() if channel == PUBLISHING:
                self._send(PUBLISHING, commands.Confirm.Select())
            case commands.Confirm.SelectOk():
                self._opened(PUBLISHING, events)
            case commands.Channel.OpenOk():
                self.opening += 1
                for tag in self.consumers:
                    self._send_consume(tag)
                self._opened(CONSUMING, events)
            case commands.Basic.ConsumeOk():
                events.append(Consuming(self._consuming.pop(0)))
            case commands.Basic.CancelOk(consumer_tag=tag):
                events.append(ConsumerEnded(tag, 200, "cancelled"))
            case commands.Basic.Cancel(consumer_tag=tag):  # its queue is gone
                if self.consumers.pop(tag, None) is not None:
                    events.append(ConsumerEnded(tag, 404, "the queue was deleted"))
            case commands.Channel.Close(reply_code=code, reply_text=text):
                self._on_channel_closed(channel, code, text, events)
            case commands.Connection.Close(reply_code=code, reply_text=text):
                self._open_channels.clear()
                self._send(0, commands.Connection.CloseOk())
                events.append(ConnectionClosed(code, text))
            case commands.Connection.CloseOk():
                events.append(ConnectionClosed(200, "closed"))
            case commands.Channel.Flow(active=active):
                self._send(channel, commands.Channel.FlowOk(active))
            case _:  # Basic.Return never comes (nothing is mandatory); the rest is not ours
                pass

    def _opened(self, channel: int, events: list[Event]) -> None:
        self._open_channels.add(channel)
        if channel == PUBLISHING:
            self.next_tag = 1
            events.append(Ready())

    def _on_channel_closed(self, channel: int, code: int, text: str, events: list[Event]) -> None:
        self._open_channels.discard(channel)
        self._send(channel, commands.Channel.CloseOk())
        self._send(channel, commands.Channel.Open())
        if channel == PUBLISHING:
            events.append(PublishRefused(code, text))
            return
        # Consumes are answered in order: the first unanswered one is what RabbitMQ refused.
        refused = self._consuming[0] if self._consuming else None
        self._consuming.clear()
        self._delivery = None
        if refused is not None and self.consumers.pop(refused, None) is not None:
            events.append(ConsumerEnded(refused, code, text))

    def _send_consume(self, tag: str) -> None:
        queue, prefetch, acked = self.consumers[tag]
        self._consuming.append(tag)
        if acked:  # the limit of the next consumer on the channel (global_=False), as RabbitMQ has it
            self._send(CONSUMING, commands.Basic.Qos(prefetch_count=prefetch, global_=False))
        self._send(CONSUMING, commands.Basic.Consume(queue=queue, consumer_tag=tag, no_ack=not acked))

    def _send(self, channel: int, method: Frame) -> None:
        self._outgoing.append(frame.marshal(method, channel))


def _short_string(text: str) -> bytes:
    encoded = text.encode()
    if len(encoded) > 255:
        raise ValueError("AMQP names and routing keys are at most 255 bytes")
    return bytes((len(encoded),)) + encoded


def _deliver(payload: bytes, opening: int) -> Delivered:
    """Basic.Deliver's arguments: consumer tag, delivery tag, redelivered, exchange, key."""
    at = 1 + payload[0]
    consumer = payload[1:at].decode()
    delivery_tag, bits = _TAG_AND_BITS.unpack_from(payload, at)
    at += 9
    exchange = payload[at + 1 : at + 1 + payload[at]].decode()
    at += 1 + payload[at]
    routing_key = payload[at + 1 : at + 1 + payload[at]].decode()
    properties = commands.Basic.Properties()
    return Delivered(consumer, delivery_tag, opening, exchange, routing_key, bool(bits & 1), properties, b"")


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return FRAME_HEADER.pack(kind, channel, len(payload)) + payload + FRAME_END
