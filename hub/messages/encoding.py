"""Messages on their way to local subscribers, in the form each client asked for.

A client says at CONNECT which form it receives coded messages in
(`x-hutch-form: json | packed-json | packed-msgpack`, packed JSON by default) and
may name the rule set its own SENDs follow (`x-hutch-rules: max@1`).
A message whose content type names a rule set is converted at most once per
form, whatever the number of recipients; any other body passes through as is.
"""

from __future__ import annotations

import logging
from typing import Any

from hutch.hub.broker.base import Delivery as BrokerDelivery
from hutch.hub.messages import payload
from hutch.protocol import OutgoingMessage, StompError, names
from hutch.protocol.destinations import destination_of
from hutch.rules import CodecError, Form, builtin_rule_sets, content_type, decode, encode, parse_content_type
from hutch.rules.packing import convert

log = logging.getLogger(__name__)

DEFAULT_FORM = Form.PACKED_JSON
WIRE = Form.PACKED_MSGPACK  # what travels through the broker
RULES = "max@1"  # the rule set of the messages the hub writes itself (acks, REST posts, replays)


def form_from_header(value: str | None) -> Form:
    if value is None:
        return DEFAULT_FORM
    try:
        return Form(value)
    except ValueError:
        forms = ", ".join(f.value for f in Form)
        raise StompError("bad x-hutch-form", f"x-hutch-form is one of {forms}, not '{value}'") from None


class LocalCopy:
    """A broker delivery as the local subscriptions receive it: one copy for all of them,
    each form serialized once (not to be mistaken for `broker.base.Delivery`, what a
    consumer is handed)."""

    __slots__ = ("_by_form", "_chat", "body", "coded", "destination", "headers")

    def __init__(self, destination: str, headers: dict[str, str], body: bytes):
        self.destination = destination
        self.headers = headers
        self.body = body
        self.coded = parse_content_type(headers.get("content-type"))
        self._by_form: dict[Form | None, OutgoingMessage] = {}
        self._chat: tuple[str, str, str] | bool | None = False  # False: not looked at yet

    @classmethod
    def of(cls, delivery: BrokerDelivery) -> LocalCopy:
        """A broker delivery, for the local subscriptions it matches."""
        message = delivery.message
        copy = cls(destination_of(delivery.exchange, delivery.routing_key), message.headers, message.body)
        if (chat := getattr(delivery, "chat_message", None)) is not None:
            copy._chat = chat  # a message stored on send: its marks name it
        return copy

    @property
    def uuid(self) -> str | None:
        """The message's uuid, for coded messages (decoded on demand: only recovery asks)."""
        value = (self.decoded or {}).get("uuid")
        return value if isinstance(value, str) else None

    @property
    def decoded(self) -> dict[str, Any] | None:
        """The message as a dict, for coded messages (decoded at each ask: only recovery asks)."""
        if self.coded is None:
            return None
        try:
            return decode(self.body, *self.coded)
        except CodecError:
            return None

    @property
    def chat_message(self) -> tuple[str, str, str] | None:
        """(sender, conversation, uuid) of a chat message, else None; decoded once per copy,
        and only when a delivery receipt asks."""
        if self._chat is False:
            self._chat = None
            exchange, _, key = self.destination.removeprefix("/exchange/").partition("/")
            cid, _, kind = key.partition(".")
            # as the member sent it (`<user>.publish`), or as the hub did (`conversations`)
            chat = kind == "messages" and (
                exchange == names.CONVERSATIONS or names.is_chat_message(exchange, key)
            )
            if self.coded is not None and chat:
                try:
                    message = decode(self.body, *self.coded)
                except CodecError:
                    return None
                user, uuid = message.get("user"), message.get("uuid")
                sender = user.get("username") if isinstance(user, dict) else None
                if isinstance(sender, str) and isinstance(uuid, str):
                    self._chat = (sender, cid, uuid)
        return self._chat  # type: ignore[return-value]

    def outgoing(self, form: Form) -> OutgoingMessage:
        key = form if self.coded is not None else None
        message = self._by_form.get(key)
        if message is None:
            message = self._by_form[key] = self._build(key)
        return message

    def _build(self, form: Form | None) -> OutgoingMessage:
        if form is None or self.coded is None or self.coded[0] is form:
            return OutgoingMessage(self.destination, self.headers, self.body)
        source, label = self.coded
        try:
            body = convert(self.body, source, form, label)
        except CodecError as error:  # checked at SEND; from elsewhere (a bot) it may still be bad
            log.warning("delivering a message as sent, it does not decode: %s", error)
            return OutgoingMessage(self.destination, self.headers, self.body)
        return OutgoingMessage(
            self.destination, {**self.headers, "content-type": content_type(form, label)}, body
        )


def rules_from_header(value: str | None) -> str | None:
    if value is not None and value not in builtin_rule_sets():
        known = ", ".join(sorted(builtin_rule_sets()))
        raise StompError("bad x-hutch-rules", f"x-hutch-rules names a rule set ({known}), not '{value}'")
    return value


def with_default_rules(headers: dict[str, str], label: str | None) -> None:
    """A client that named its rule set at CONNECT may leave `rules=` off its content types."""
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if label and media in {form.media_type for form in Form} and "rules=" not in headers["content-type"]:
        headers["content-type"] = content_type(Form(_FORM_OF_MEDIA[media]), label)


_FORM_OF_MEDIA = {form.media_type: form.value for form in Form}


def stamp_sender(message: dict[str, Any], sender: str) -> None:
    """`user.username` is who sent the message, whatever the body claimed; the rest of
    `user` (a display name) is the sender's own to choose."""
    claimed = message.get("user")
    message["user"] = {**(claimed if isinstance(claimed, dict) else {}), "username": sender}


def normalize_send(
    headers: dict[str, str], body: bytes, sender: str, max_depth: int = payload.MAX_DEPTH
) -> tuple[bytes, dict[str, Any] | None]:
    """A coded SEND, checked, stamped with its sender (`user.username`, whatever the body said)
    and put in the wire form (content-type updated in place), with the message it holds; any
    other body as it is, with None."""
    coded = parse_content_type(headers.get("content-type"))
    if coded is None:
        return body, None
    form, label = coded
    try:
        message = decode(body, form, label)
        payload.check(message, max_depth=max_depth)
        stamp_sender(message, sender)
        wire = encode(message, WIRE, label)
    except CodecError as error:
        raise StompError(
            "bad message", f"the body does not decode as {form.value} under {label}: {error}"
        ) from None
    except payload.BadPayload as error:
        raise StompError("bad message", f"the body holds {error}: it could not be stored") from None
    headers["content-type"] = content_type(WIRE, label)
    return wire, message
