"""The one rule for the names clients give the hub: user names and conversation ids.

STOMP logins, REST identities and participants, path parameters and the broker
layer all check names here, so a name the hub accepts in one place works in
every other (as exchange names on RabbitMQ, as routing-key words, as Redis keys).

    user name          1-64 letters (any script), digits, '_', '-' and '.', at most 80
                       ASCII characters as a broker name; not 'amq.*' or 'hutch.*'
                       (RabbitMQ's and the hub's own names)
    conversation id    1-64 ASCII letters, digits, '_' and '-' (one routing-key word)

A user name becomes part of exchange names (`<user>.publish`); AMQP allows only
ASCII letters, digits and `-_.:` there, so `broker_name` maps the others
reversibly (see there).
"""

from __future__ import annotations

import re

MAX_NAME = 64
MAX_BROKER_NAME = 80  # "<name>.subscribe" and the hub's queue names stay within AMQP's 127
RESERVED_PREFIXES = ("amq.", "hutch.")

_USER = re.compile(r"[\w.-]{1,64}")  # \w: letters and digits of any script, and '_'
_PLAIN = re.compile(r"[A-Za-z0-9_.-]+", re.ASCII)
_CID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
ENCODED = ":"  # starts a broker name that stands for a user name outside plain ASCII


class BadName(ValueError):
    """A name the hub does not take; the message says which rule it broke."""


def check_user(name: str) -> str:
    """The user name itself, or BadName saying what is wrong with it."""
    if not isinstance(name, str) or not _USER.fullmatch(name):
        raise BadName(f"'{_shown(name)}' is not a user name: 1-{MAX_NAME} letters, digits, '_', '-' or '.'")
    if name.startswith(RESERVED_PREFIXES):  # as RabbitMQ reserves "amq.": case and all
        raise BadName(f"'{name}' is not a user name: names starting 'amq.' or 'hutch.' are reserved")
    if len(broker_name(name)) > MAX_BROKER_NAME:
        raise BadName(f"'{name}' is not a user name: too long once encoded for the broker")
    return name


def check_conversation(cid: str) -> str:
    if not isinstance(cid, str) or not _CID.fullmatch(cid):
        raise BadName(f"'{_shown(cid)}' is not a conversation id: 1-{MAX_NAME} letters, digits, '_' or '-'")
    return cid


def is_user(name: str) -> bool:
    try:
        check_user(name)
    except BadName:
        return False
    return True


def broker_name(user: str) -> str:
    """The user's name as AMQP allows it in exchange names: itself when plain ASCII, else
    ':' and its punycode (`josé` -> `:jos-dma`); plain names never hold ':', so no two
    users share a broker name."""
    if _PLAIN.fullmatch(user):
        return user
    return ENCODED + user.encode("punycode").decode("ascii")


def user_of_broker_name(name: str) -> str:
    """The inverse of `broker_name`."""
    if name.startswith(ENCODED):
        return name[1:].encode("ascii").decode("punycode")
    return name


def _shown(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else value.encode("unicode_escape").decode("ascii")
    return text[:80] + ("..." if len(text) > 80 else "")
