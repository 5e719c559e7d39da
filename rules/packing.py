"""Packings and content types: a packed message as bytes that say which rule set they follow.

    form            content type                                   WebSocket frame
    json            application/json; rules=max@1                  text (expanded, human form)
    packed-json     application/x-hutch+json; rules=max@1          text
    packed-msgpack  application/x-hutch+msgpack; rules=max@1       binary (also AMQP bodies)

Packed msgpack goes one step further than packed JSON: the packed fields are an
array in the rule set's field order, without their keys; a field the message
lacks is the ext type 0 (trailing ones are left off), and what the set does not
know follows the fields as one last map {"~": ..., "~-": ...}.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from functools import cache, lru_cache
from typing import Any

import msgpack
import orjson
from hutch.rules.engine import Codec, compile_rule_set
from hutch.rules.errors import CodecError
from hutch.rules.ruleset import ABSENT, ESCAPE, builtin_rule_sets

Message = dict[str, Any]


class Form(enum.Enum):
    JSON = "json"
    PACKED_JSON = "packed-json"
    PACKED_MSGPACK = "packed-msgpack"

    # Members are singletons compared by identity: their identity hash serves as well as
    # Enum's, which hashes the name in Python (a form is a dict key on every delivery).
    __hash__ = object.__hash__

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]

    @property
    def packed(self) -> bool:
        return self is not Form.JSON


_MEDIA_TYPES = {
    Form.JSON: "application/json",
    Form.PACKED_JSON: "application/x-hutch+json",
    Form.PACKED_MSGPACK: "application/x-hutch+msgpack",
}
_FORMS = {media: form for form, media in _MEDIA_TYPES.items()}


def content_type(form: Form, label: str) -> str:
    return f"{form.media_type}; rules={label}"


def parse_content_type(value: str | None) -> tuple[Form, str] | None:
    """(form, rule set label) of a hutch content type; None for anything else (opaque bodies)."""
    if not value:
        return None
    return _parse_content_type(value)


@lru_cache(maxsize=256)  # asked for every message; a hub sees a handful of content types
def _parse_content_type(value: str) -> tuple[Form, str] | None:
    media, *parameters = (part.strip() for part in value.split(";"))
    form = _FORMS.get(media.lower())
    rules = next((p.partition("=")[2].strip('"') for p in parameters if p.startswith("rules=")), None)
    if form is None or not rules:
        return None
    return form, rules


@cache
def codec_for(label: str, strict: bool = False) -> Codec:
    rule_set = builtin_rule_sets().get(label)
    if rule_set is None:
        known = ", ".join(sorted(builtin_rule_sets())) or "none"
        raise CodecError(f"unknown rule set '{label}' (known: {known})")
    return compile_rule_set(rule_set, strict=strict)


_LACKING = msgpack.ExtType(0, b"")  # a field the message does not have
_LACKING_READ = object()  # what unpacking makes of it: a marker, cheaper than an ExtType each time


def _read_ext(code: int, data: bytes) -> object:
    return _LACKING_READ if code == 0 and not data else msgpack.ExtType(code, data)


def serialize(value: Message, form: Form, label: str) -> bytes:
    if form is Form.PACKED_MSGPACK:
        return msgpack.packb(_positional(value, _ids(label)), use_bin_type=True)
    return orjson.dumps(value)


def deserialize(body: bytes, form: Form, label: str) -> Any:
    try:
        if form is Form.PACKED_MSGPACK:
            return _keyed(msgpack.unpackb(body, raw=False, ext_hook=_read_ext), _ids(label))
        return orjson.loads(body)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, TypeError) as error:
        raise CodecError(f"the body is not valid {form.value}: {error}") from None


@cache
def _ids(label: str) -> tuple[str, ...]:
    return tuple(rule.id for rule in codec_for(label).rule_set.fields)


def _positional(packed: Any, ids: tuple[str, ...]) -> Any:
    if type(packed) is not dict:
        return packed  # not a packed message: the codec will say so on the way back
    values = [packed.get(i, _LACKING) for i in ids]
    if ESCAPE in packed or ABSENT in packed:
        values.append({k: packed[k] for k in (ESCAPE, ABSENT) if k in packed})
        return values
    while values and values[-1] is _LACKING:
        values.pop()
    return values


def _keyed(values: Any, ids: tuple[str, ...]) -> Any:
    if type(values) is not list:
        raise CodecError("packed msgpack holds an array of fields")
    if len(values) > len(ids) + 1:
        raise CodecError(f"packed msgpack has {len(values)} items; this rule set has {len(ids)} fields")
    packed = {i: v for i, v in zip(ids, values, strict=False) if v is not _LACKING_READ}
    if len(values) == len(ids) + 1:
        extras = values[-1]
        if type(extras) is not dict:
            raise CodecError("the last item of packed msgpack holds what the rule set does not know")
        packed.update(extras)
    return packed


def encode(message: Message, form: Form, label: str) -> bytes:
    """An expanded message as the bytes of `form`."""
    if form is Form.JSON:
        codec_for(label)  # the rule set must exist even when nothing is packed
        return serialize(message, Form.JSON, label)
    packed = codec_for(label).pack(message)
    body = serialize(packed, form, label)
    if form is Form.PACKED_MSGPACK:
        _recently_packed.remember(body, label, packed)
    return body


def decode(body: bytes, form: Form, label: str) -> Message:
    """The expanded message in `body`; a `CodecError` saying why when it is not one."""
    value = deserialize(body, form, label)
    codec = codec_for(label)
    if form is Form.JSON:
        codec.pack(value)  # validates: raises on a non-object
        return value
    return codec.unpack(value)


def convert(body: bytes, source: Form, target: Form, label: str) -> bytes:
    """Re-encode between forms; packed to packed skips the codec altogether."""
    if source is target:
        return body
    codec = codec_for(label)
    packed = _recently_packed.get(body, label) if source is Form.PACKED_MSGPACK else None
    if packed is not None:  # packed here a moment ago: valid, and not worth unpacking again
        return serialize(packed if target.packed else codec.unpack(packed), target, label)
    value = deserialize(body, source, label)
    if source.packed and target.packed:
        codec.unpack(value)  # only to refuse what is not a packed message of this set
        return serialize(value, target, label)
    if source.packed:
        return serialize(codec.unpack(value), target, label)
    return serialize(codec.pack(value), target, label)


class _RecentlyPacked:
    """Packed msgpack bodies this process made lately, with the packed message each holds.

    What the hub encodes for the broker (its own acks and receipts, checked SENDs) comes
    back to its own fan-out a moment later, to be converted for clients: the packed
    message is still at hand, so it is serialized again instead of unpacked and checked.
    """

    def __init__(self, size: int = 64):  # a fan-out follows its publish within milliseconds
        self.size = size
        self._packed: OrderedDict[tuple[bytes, str], Any] = OrderedDict()

    def remember(self, body: bytes, label: str, packed: Any) -> None:
        self._packed[body, label] = packed
        if len(self._packed) > self.size:
            self._packed.popitem(last=False)

    def get(self, body: bytes, label: str) -> Any:
        return self._packed.get((body, label))


_recently_packed = _RecentlyPacked()
