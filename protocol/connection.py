"""The server side of one STOMP connection, as a state machine without I/O.

    conn = ServerConnection(Limits(), now=clock())
    for event in conn.receive_data(data, now=clock()):
        ...                      # act, then conn.send_receipt(event.receipt)
    transport.write(conn.data_to_send())

The caller also calls `tick(now)` now and then: it sends heart-beats and enforces
the login timeout and the heart-beat deadline. Violations never raise: the
connection queues an ERROR frame and moves to CLOSING, and the caller closes
the transport once it has sent what `data_to_send` returns.
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hutch.protocol.errors import LimitExceeded, ProtocolError, StompError, Wording
from hutch.protocol.events import (
    Acked,
    Committed,
    ConnectRequested,
    DisconnectRequested,
    Event,
    Nacked,
    ReceiptRequested,
    SendRequested,
    Subscribed,
    Unsubscribed,
)
from hutch.protocol.frames import Frame, OutgoingMessage, escape, parse_heartbeat, serialize
from hutch.protocol.parser import FrameParser

VERSIONS = ("1.0", "1.1", "1.2")
ACK_MODES = ("auto", "client", "client-individual")
HEARTBEAT = b"\n"


class State(enum.Enum):
    AWAITING_CONNECT = "awaiting CONNECT"
    CONNECTING = "CONNECT received, not yet accepted"
    CONNECTED = "connected"
    CLOSING = "closing"  # after ERROR or DISCONNECT: send what is queued, then close


# Which client commands each state takes (h11-style state as data).
ALLOWED = {
    State.AWAITING_CONNECT: frozenset({"CONNECT", "STOMP"}),
    State.CONNECTING: frozenset(
        {"SEND", "SUBSCRIBE", "UNSUBSCRIBE", "BEGIN", "COMMIT", "ABORT", "ACK", "NACK", "DISCONNECT"}
    ),
}
ALLOWED[State.CONNECTED] = ALLOWED[State.CONNECTING]


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_size: int = 4 * 1024 * 1024
    max_frame_size_before_login: int = 64 * 1024
    max_headers: int = 100
    max_header_length: int = 8 * 1024
    login_timeout: float = 10.0
    heartbeat_floor_ms: int = 1000  # never agree to heart-beats more often than this
    heartbeat_grace: float = 2.0  # drop a client silent for this many of its intervals
    max_subscriptions: int = 1000  # open at once on one connection
    max_transactions: int = 100  # open at once on one connection
    max_transaction_frames: int = 1000  # SEND, ACK and NACK frames held by one open transaction
    max_transaction_bytes: int = 16 * 1024 * 1024  # body bytes held by all open transactions


@dataclass(slots=True)
class _Subscription:
    id: str
    id_bytes: bytes  # escaped once, reused in every MESSAGE
    ack: str
    unacked: dict[str, Any] = field(default_factory=dict)  # ack id -> token, in send order
    handle: Any = None  # what serves it on the server's side (`attach`)


class ServerConnection:
    def __init__(self, limits: Limits | None = None, *, now: float = 0.0, server: str = "hutch"):
        self.limits = limits or Limits()
        self.server = server
        self.state = State.AWAITING_CONNECT
        self.version = "1.0"
        self.login: str | None = None
        self.send_interval = 0.0  # seconds between our heart-beats, 0 for none
        self.receive_interval = 0.0  # seconds the client promised between its data
        self._client_heartbeat = (0, 0)
        self._parser = FrameParser(
            max_frame_size=self.limits.max_frame_size_before_login,
            max_headers=self.limits.max_headers,
            max_header_length=self.limits.max_header_length,
        )
        self._out: list[bytes] = []
        self._created = self._last_received = self._last_sent = now
        self._subscriptions: dict[str, _Subscription] = {}
        self._unacked: dict[str, _Subscription] = {}  # ack id -> its subscription
        self._transactions: dict[str, list[Frame]] = {}
        self._transaction_bytes = 0  # bodies held by open transactions, all together
        self._message_seq = 0  # also the number of MESSAGE frames sent
        # What a hub counts (its metrics): frames in by command, other frames out by command,
        # and the ERROR that ended the connection, if one did.
        self.frames_in: Counter[str] = Counter()
        self.frames_out: Counter[str] = Counter()
        self.error: str | None = None

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Parse what the client sent; return what it asked for, in order."""
        events: list[Event] = []
        if self.state is State.CLOSING:
            return events
        self._last_received = now
        try:
            self._parser.feed(data)
            while self.state is not State.CLOSING and (frame := self._parser.next_frame()):
                events.extend(self._handle(frame))
        except StompError as error:
            self.fail(error)
        return events

    def _handle(self, frame: Frame) -> list[Event]:
        command = frame.command
        self.frames_in[command] += 1
        if command not in ALLOWED[self.state]:
            if self.state is State.AWAITING_CONNECT:
                raise ProtocolError(Wording.ILLEGAL_COMMAND, "You must log in using CONNECT first")
            raise ProtocolError("already connected", f"{command} is only valid as the first frame")
        receipt = frame.headers.get("receipt")
        try:
            if command in ("SEND", "ACK", "NACK") and "transaction" in frame.headers:
                self._hold(frame)  # its receipt comes once it is done, at the commit
                return []
            return self._dispatch(frame, receipt)
        except StompError as error:
            error.receipt_id = error.receipt_id or receipt
            raise

    def _dispatch(self, frame: Frame, receipt: str | None) -> list[Event]:
        headers = frame.headers
        match frame.command:
            case "CONNECT" | "STOMP":
                return [self._connect(headers)]
            case "SEND":
                if "message-id" in headers:  # the hub sets it; a client's would mislead
                    raise ProtocolError(Wording.INVALID_HEADER, "'message-id' is not allowed on 'SEND'.\n")
                destination = _required(frame, "destination", Wording.MISSING_DESTINATION)
                return [SendRequested(destination, headers, frame.body, receipt)]
            case "SUBSCRIBE":
                return [self._subscribe(frame, receipt)]
            case "UNSUBSCRIBE":
                return [self._unsubscribe(frame, receipt)]
            case "ACK" | "NACK":
                return [self._ack(frame, receipt)]
            case "BEGIN":
                name = _required(frame, "transaction", Wording.MISSING_TRANSACTION)
                if name in self._transactions:
                    raise ProtocolError("duplicate transaction", f"transaction '{name}' is already open")
                if len(self._transactions) >= self.limits.max_transactions:
                    raise LimitExceeded(
                        "too many transactions",
                        f"at most {self.limits.max_transactions} transactions may be open at once",
                    )
                self._transactions[name] = []
                return [ReceiptRequested(receipt)] if receipt else []
            case "COMMIT":
                frames = self._end_transaction(frame)
                inner: list[Any] = []
                for buffered in frames:  # each answers its own receipt once done, at the commit
                    inner.extend(self._dispatch(buffered, buffered.headers.get("receipt")))
                return [Committed(frame.headers["transaction"], inner, receipt)]
            case "ABORT":
                self._end_transaction(frame)
                return [ReceiptRequested(receipt)] if receipt else []
            case _:  # DISCONNECT
                self._transactions.clear()  # "uncommitted work is aborted on disconnect"
                self._transaction_bytes = 0
                self.state = State.CLOSING
                return [DisconnectRequested(self.unacked_tokens(), receipt)]

    def _connect(self, headers: dict[str, str]) -> ConnectRequested:
        offered = headers.get("accept-version", "1.0").split(",")
        common = [v for v in VERSIONS if v in offered]
        if not common:
            raise ProtocolError(
                Wording.VERSION_MISMATCH,
                f"Supported versions are {','.join(VERSIONS)}\n",
                headers={"version": ",".join(VERSIONS)},
            )
        self.version = common[-1]
        self._parser.escaped = self.version != "1.0"
        self._client_heartbeat = parse_heartbeat(headers.get("heart-beat", "0,0"))
        self.login = headers.get("login")
        self.state = State.CONNECTING
        return ConnectRequested(self.login, headers.get("passcode"), headers.get("host"), headers)

    def _subscribe(self, frame: Frame, receipt: str | None) -> Subscribed:
        destination = _required(frame, "destination", Wording.MISSING_DESTINATION)
        # STOMP 1.0 made the id optional; the destination then names the subscription, but
        # for a durable one, which must be found again by its id.
        sub_id = frame.headers.get("id")
        if sub_id is None and self.version == "1.0":
            if is_durable(frame.headers):
                raise ProtocolError(
                    Wording.MISSING_DURABLE_ID, "Header 'id' is required for durable subscriptions"
                )
            sub_id = destination
        if sub_id is None:
            raise ProtocolError(Wording.MISSING_HEADER, "SUBSCRIBE needs an 'id' header")
        ack = frame.headers.get("ack", "auto")
        if ack not in ACK_MODES:
            raise ProtocolError("bad ack mode", f"ack must be one of {', '.join(ACK_MODES)}, not '{ack}'")
        self.add_subscription(sub_id, ack)
        return Subscribed(sub_id, destination, ack, frame.headers, receipt)

    def add_subscription(self, sub_id: str, ack: str = "auto") -> None:
        """Register a subscription; the hub also uses this for reply queues it opens itself."""
        if sub_id in self._subscriptions:
            raise ProtocolError(
                Wording.DUPLICATED_SUBSCRIPTION, f"A subscription identified by 'T_{sub_id}' already exists."
            )
        if len(self._subscriptions) >= self.limits.max_subscriptions:
            raise LimitExceeded(
                "too many subscriptions",
                f"at most {self.limits.max_subscriptions} subscriptions may be open on one connection",
            )
        id_bytes = (escape(sub_id) if self._parser.escaped else sub_id).encode()
        self._subscriptions[sub_id] = _Subscription(sub_id, id_bytes, ack)

    def attach(self, sub_id: str, handle: Any) -> None:
        """Keep what serves a subscription with it: `Unsubscribed` hands it back, and so does
        `handles`, so the server keeps no table of its own."""
        subscription = self._subscriptions.get(sub_id)
        if subscription is not None:
            subscription.handle = handle

    def handles(self) -> list[Any]:
        """What serves each open subscription (those attached), to release on close."""
        return [sub.handle for sub in self._subscriptions.values() if sub.handle is not None]

    def _unsubscribe(self, frame: Frame, receipt: str | None) -> Unsubscribed:
        sub_id = frame.headers.get("id") or (
            frame.headers.get("destination") if self.version == "1.0" else None
        )
        if sub_id is None:
            raise ProtocolError(Wording.MISSING_ID, "UNSUBSCRIBE must include a 'destination' or 'id' header")
        subscription = self._subscriptions.pop(sub_id, None)
        if subscription is None:
            raise ProtocolError(Wording.NO_SUBSCRIPTION, f"no subscription with id '{sub_id}'")
        for ack_id in subscription.unacked:
            del self._unacked[ack_id]
        return Unsubscribed(
            sub_id, frame.headers, list(subscription.unacked.values()), receipt, subscription.handle
        )

    def _ack(self, frame: Frame, receipt: str | None) -> Acked | Nacked:
        # 1.2 acks by `id` (the MESSAGE's ack header); 1.0 and 1.1 by `message-id`, the same value here.
        named_by = "id" if self.version == "1.2" else "message-id"
        ack_id = frame.headers.get(named_by)
        if ack_id is None:
            raise ProtocolError(
                Wording.MISSING_HEADER, f'"{frame.command}" must include the "{named_by}" header'
            )
        subscription = self._unacked.get(ack_id)
        if subscription is None:
            raise ProtocolError(
                Wording.INVALID_HEADER, f"no message waiting for {frame.command} has ack id '{ack_id}'"
            )
        tokens: list[Any] = []
        if subscription.ack == "client":  # cumulative: this message and all sent before it
            for pending in list(subscription.unacked):
                tokens.append(subscription.unacked.pop(pending))
                del self._unacked[pending]
                if pending == ack_id:
                    break
        else:
            tokens.append(subscription.unacked.pop(ack_id))
            del self._unacked[ack_id]
        if frame.command == "ACK":
            return Acked(tokens, receipt)
        # stomp.py writes a Python bool as "False": RabbitMQ reads it case-insensitively too.
        return Nacked(tokens, frame.headers.get("requeue", "true").lower() != "false", receipt)

    def _transaction(self, name: str) -> list[Frame]:
        if name not in self._transactions:
            raise ProtocolError(Wording.BAD_TRANSACTION, f"Invalid transaction identifier: '{name}'")
        return self._transactions[name]

    def _hold(self, frame: Frame) -> None:
        """Keep a frame of an open transaction until COMMIT, within the transaction limits."""
        held = self._transaction(frame.headers["transaction"])
        limits = self.limits
        if len(held) >= limits.max_transaction_frames:
            raise LimitExceeded(
                "transaction too large",
                f"a transaction holds at most {limits.max_transaction_frames} frames; commit before sending more",
            )
        if self._transaction_bytes + len(frame.body) > limits.max_transaction_bytes:
            raise LimitExceeded(
                "transaction too large",
                f"open transactions hold at most {limits.max_transaction_bytes} bytes of bodies",
            )
        self._transaction_bytes += len(frame.body)
        held.append(frame)

    def _end_transaction(self, frame: Frame) -> list[Frame]:
        """The frames of the transaction COMMIT or ABORT names, which is then closed."""
        frames = self._transaction(_required(frame, "transaction", Wording.MISSING_TRANSACTION))
        del self._transactions[frame.headers["transaction"]]
        self._transaction_bytes -= sum(len(held.body) for held in frames)
        return frames

    # -- output --------------------------------------------------------------

    def accept(self, session: str, now: float) -> None:
        """Answer CONNECT with CONNECTED; heart-beats as the client asked, no faster than the floor."""
        if self.state is not State.CONNECTING:
            return
        client_sends, client_wants = self._client_heartbeat
        floor = self.limits.heartbeat_floor_ms
        send_ms = max(client_wants, floor) if client_wants and self.version != "1.0" else 0
        receive_ms = max(client_sends, floor) if client_sends and self.version != "1.0" else 0
        self.send_interval, self.receive_interval = send_ms / 1000, receive_ms / 1000
        self.state = State.CONNECTED
        self._parser.max_frame_size = self.limits.max_frame_size
        self._last_received = now
        headers = {
            "version": self.version,
            "heart-beat": f"{send_ms},{receive_ms}",
            "server": self.server,
            "session": session,
        }
        self._queue(Frame("CONNECTED", headers))

    def send_receipt(self, receipt: str | None, headers: dict[str, str] | None = None) -> None:
        if receipt is not None:
            self._queue(Frame("RECEIPT", {"receipt-id": receipt, **(headers or {})}))

    def send_message(
        self,
        message: OutgoingMessage,
        subscription: str,
        token: Any = None,
        *,
        redelivered: bool = False,
    ) -> None:
        """Queue a MESSAGE for one subscription; nothing if the subscription is gone.

        `token` comes back in `Acked`/`Nacked` when the subscription is not auto-ack.
        """
        sub = self._subscriptions.get(subscription)
        if sub is None or self.state is State.CLOSING:
            return
        self._message_seq = seq = self._message_seq + 1
        flag = b"true" if redelivered else b"false"
        if sub.ack == "auto":
            head = b"MESSAGE\nsubscription:%b\nmessage-id:%d\nredelivered:%b\n" % (sub.id_bytes, seq, flag)
        else:
            ack_id = str(seq)
            sub.unacked[ack_id] = token
            self._unacked[ack_id] = sub
            head = b"MESSAGE\nsubscription:%b\nmessage-id:%d\nack:%d\nredelivered:%b\n" % (
                sub.id_bytes, seq, seq, flag
            )  # fmt: skip
        self._out.append(head + message.tail(self._parser.escaped))

    def fail(self, error: StompError) -> None:
        """Queue the ERROR frame for `error` and stop: the caller closes after sending it."""
        if self.state is State.CLOSING:
            return
        headers = {"message": error.message, "content-type": "text/plain"}
        if error.receipt_id:
            headers["receipt-id"] = error.receipt_id
        headers.update(error.headers)
        self._queue(Frame("ERROR", headers, error.detail.encode()))
        self.error = error.message
        self.state = State.CLOSING

    def reject(self, message: str, detail: str = "") -> None:
        self.fail(StompError(message, detail))

    def data_to_send(self, now: float) -> list[bytes]:
        """Frames to send, each whole (the WebSocket endpoint may put several in one message); heart-beats are a lone EOL."""
        out, self._out = self._out, []
        if out:
            self._last_sent = now
        return out

    def _queue(self, frame: Frame) -> None:
        self.frames_out[frame.command] += 1
        self._out.append(serialize(frame, escaped=self._parser.escaped))

    @property
    def messages_sent(self) -> int:
        return self._message_seq

    # -- time ----------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Send a heart-beat when one is due; fail a client past a deadline."""
        if self.state is State.CLOSING:
            return
        if self.state is not State.CONNECTED:
            if now - self._created > self.limits.login_timeout:
                self.fail(
                    LimitExceeded(
                        "login timeout", f"no accepted CONNECT within {self.limits.login_timeout:g} s"
                    )
                )
            return
        if (
            self.receive_interval
            and now - self._last_received > self.receive_interval * self.limits.heartbeat_grace
        ):
            self.fail(
                LimitExceeded(
                    "heart-beat timeout",
                    f"nothing received for {now - self._last_received:.1f} s; "
                    f"heart-beat interval is {self.receive_interval * 1000:.0f} ms",
                )
            )
            return
        # Send a little early: ticks come at intervals, and the client checks on its own clock.
        if self.send_interval and now - self._last_sent >= self.send_interval * 0.75:
            self._out.append(HEARTBEAT)

    def next_tick(self) -> float:
        """The earliest time `tick` may have something to do; a tick before it does nothing.

        Data received or sent since moves the deadlines later, never sooner."""
        if self.state is State.CLOSING:
            return math.inf
        if self.state is not State.CONNECTED:
            return self._created + self.limits.login_timeout
        due = math.inf
        if self.receive_interval:
            due = self._last_received + self.receive_interval * self.limits.heartbeat_grace
        if self.send_interval:
            due = min(due, self._last_sent + self.send_interval * 0.75)
        return due

    def unacked_tokens(self) -> list[Any]:
        """Tokens of every MESSAGE sent but not yet ACKed or NACKed, to requeue on close."""
        return [token for sub in self._subscriptions.values() for token in sub.unacked.values()]


def _required(frame: Frame, name: str, wording: Wording = Wording.MISSING_HEADER) -> str:
    value = frame.headers.get(name)
    if value is None:
        raise ProtocolError(wording, f"{frame.command} needs a '{name}' header")
    return value


def is_durable(headers: dict[str, str]) -> bool:
    """durable:true, or RabbitMQ's older persistent:true."""
    return headers.get("durable", headers.get("persistent")) == "true"
