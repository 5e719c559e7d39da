"""The same raw frames to RabbitMQ's STOMP adapter and to hutch's plain STOMP listener: the
same reply from both, command and `message` header.

Each case is one line: what a signed-in client sends (or the CONNECT itself), and the reply
both servers give to it first. RabbitMQ's STOMP adapter must be listening on 61613 (the test
set-up enables it): a missing one fails the test, it never skips. Where hutch deliberately
answers otherwise, the README's "Compatibility with RabbitMQ" table says so and why; those
cases are in DIFFERENT, with each server's answer.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import NamedTuple

import pytest
from backends import SECRET
from hub_server import RunningHub, running_hub
from hutch.hub.auth import mint_token
from hutch.protocol import Frame, Wording
from stomp_frames import parse_server_frames

RABBITMQ_STOMP = 61613
LOGIN = "guest"  # RabbitMQ's default user; on hutch the same name, with a token
CONNECT = "CONNECT\naccept-version:1.2\nhost:{host}\nlogin:{login}\npasscode:{passcode}\n\n\x00"


def frame(command: str, body: str = "", **headers: str) -> bytes:
    lines = [command, *(f"{name.replace('_', '-')}:{value}" for name, value in headers.items())]
    return ("\n".join(lines) + "\n\n" + body + "\x00").encode()


class Case(NamedTuple):
    frames: bytes  # sent once logged in; or, with `connect`, instead of logging in
    reply: tuple[str, str | None]  # the first frame's command, and its `message` or `receipt-id`
    connect: str | None = None  # a CONNECT of the case's own ({login}, {passcode} filled in)


SAME = {
    "a '/' inside a queue name": Case(frame("SUBSCRIBE", id="1", destination="/queue/bah/baz"), ("ERROR", "Invalid destination")),
    "a '/' inside a topic": Case(frame("SUBSCRIBE", id="1", destination="/topic/bah/baz"), ("ERROR", "Invalid destination")),
    "a '/' inside an exchange key": Case(frame("SUBSCRIBE", id="1", destination="/exchange/amq.topic/baz/boo"), ("ERROR", "Invalid destination")),
    "a '/' inside an amq queue": Case(frame("SUBSCRIBE", id="1", destination="/amq/queue/a/b"), ("ERROR", "Invalid destination")),
    "a queue of no name": Case(frame("SUBSCRIBE", id="1", destination="/queue/"), ("ERROR", "Invalid destination")),
    "a SEND to a topic with a '/'": Case(frame("SEND", "x", destination="/topic/a/b"), ("ERROR", "Invalid destination")),
    "subscribing to a temp-queue": Case(frame("SUBSCRIBE", id="1", destination="/temp-queue/x"), ("ERROR", "Invalid destination")),
    "sending to a temp-queue": Case(frame("SEND", "x", destination="/temp-queue/x"), ("ERROR", "Invalid destination")),
    "no such destination kind": Case(frame("SUBSCRIBE", id="1", destination="/foo/bar"), ("ERROR", "Unknown destination")),
    "SUBSCRIBE without destination": Case(frame("SUBSCRIBE", id="1"), ("ERROR", "Missing destination")),
    "SEND without destination": Case(frame("SEND", "x"), ("ERROR", "Missing destination")),
    "an unknown command": Case(frame("FOO"), ("ERROR", "Bad command")),
    "a subscription id used twice": Case(frame("SUBSCRIBE", id="1", destination="/topic/a") + frame("SUBSCRIBE", id="1", destination="/topic/b"), ("ERROR", "Duplicated subscription identifier")),
    "ACK without id (1.2)": Case(frame("ACK", message_id="1"), ("ERROR", "Missing header")),
    "NACK without id (1.2)": Case(frame("NACK"), ("ERROR", "Missing header")),
    "ACK of no message": Case(frame("ACK", id="99"), ("ERROR", "Invalid header")),
    "UNSUBSCRIBE of nothing": Case(frame("UNSUBSCRIBE", id="zz"), ("ERROR", "No subscription found")),
    "UNSUBSCRIBE naming nothing": Case(frame("UNSUBSCRIBE"), ("ERROR", "Missing destination or id")),
    "a client message-id on SEND": Case(frame("SEND", "x", destination="/topic/a", message_id="mine"), ("ERROR", "Invalid header")),
    "BEGIN without transaction": Case(frame("BEGIN"), ("ERROR", "Missing transaction")),
    "COMMIT of no transaction": Case(frame("COMMIT", transaction="nope"), ("ERROR", "Bad transaction")),
    "ABORT of no transaction": Case(frame("ABORT", transaction="nope"), ("ERROR", "Bad transaction")),
    "an amq queue that does not exist": Case(frame("SUBSCRIBE", id="1", destination="/amq/queue/hutch-compat-none"), ("ERROR", "not_found")),
    "a SEND with a receipt": Case(frame("SEND", "x", destination="/topic/a", receipt="r"), ("RECEIPT", "r")),
    "stray NULs and EOLs between frames": Case(b"\x00\n\x00" + frame("SEND", "x", destination="/topic/a", receipt="r"), ("RECEIPT", "r")),
    "a send in a transaction answered at commit": Case(frame("BEGIN", transaction="t") + frame("SEND", "x", destination="/topic/a", transaction="t", receipt="s") + frame("DISCONNECT", receipt="d"), ("RECEIPT", "d")),
    "a wrong passcode": Case(b"", ("ERROR", "Bad CONNECT"), "CONNECT\naccept-version:1.2\nhost:/\nlogin:{login}\npasscode:wrong\n\n\x00"),
    "an unknown virtual host": Case(b"", ("ERROR", "Bad CONNECT"), CONNECT.replace("{host}", "nohost")),
    "an unsupported version": Case(b"", ("ERROR", "Version mismatch"), "CONNECT\naccept-version:2.0\nhost:/\nlogin:{login}\npasscode:{passcode}\n\n\x00"),
    "a frame before CONNECT": Case(b"", ("ERROR", "Illegal command"), "SEND\ndestination:/topic/a\n\nx\x00"),
    "a CONNECT ended by blank lines": Case(b"", ("CONNECTED", None), CONNECT.replace("\n\n\x00", "\n\n\r\n\n\x00")),
    "a durable subscription without id (1.0)": Case(frame("SUBSCRIBE", destination="/topic/d", persistent="true"), ("ERROR", "Missing Header"), "CONNECT\nlogin:{login}\npasscode:{passcode}\n\n\x00"),
}  # fmt: skip

# Where hutch answers otherwise on purpose (README, "Compatibility with RabbitMQ"):
# (what RabbitMQ answers, what hutch answers).
DIFFERENT = {
    "SUBSCRIBE without id (1.2)": (frame("SUBSCRIBE", destination="/topic/a", receipt="r"), ("RECEIPT", "r"), ("ERROR", "Missing header")),
    "an ack mode that does not exist": (frame("SUBSCRIBE", id="1", destination="/topic/a", ack="weird"), ("ERROR", "Processing error"), ("ERROR", "bad ack mode")),
    "a prefetch-count that is no number": (frame("SUBSCRIBE", id="1", destination="/topic/a", prefetch_count="x"), ("ERROR", "Processing error"), ("ERROR", "bad prefetch-count")),
}  # fmt: skip


@pytest.fixture(scope="module")
def hutch() -> Iterator[RunningHub]:
    settings = {"dev_mode": False, "jwt_secret": SECRET, "virtual_hosts": "/"}
    with running_hub(**settings) as hub:
        yield hub


def first_reply(port: int, case: Case, passcode: str) -> tuple[str, str | None]:
    """What the server at `port` answers first to the case (after CONNECTED, if it logs in)."""
    connect = (case.connect or CONNECT).format(host="/", login=LOGIN, passcode=passcode)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(connect.encode())
        if not case.frames:  # the case is the CONNECT
            return _reply(read_frames(sock)[0])
        assert read_frames(sock)[0].command == "CONNECTED"
        sock.sendall(case.frames)
        return _reply(read_frames(sock)[0])


def read_frames(sock: socket.socket) -> list[Frame]:
    """The whole frames that came, once at least one has (RabbitMQ ends each with an EOL too)."""
    received, deadline = b"", time.monotonic() + 5
    while time.monotonic() < deadline:
        if received.rstrip(b"\r\n").endswith(b"\x00"):
            return [f for f in parse_server_frames(received.lstrip(b"\r\n")) if f.command != "HEARTBEAT"]
        data = sock.recv(65536)
        if not data:
            break
        received += data
    raise AssertionError(f"no whole frame came: {received!r}")


def _reply(frame: Frame) -> tuple[str, str | None]:
    """An ERROR by its `message`, a RECEIPT by its id, anything else by its command alone."""
    return frame.command, frame.headers.get("message", frame.headers.get("receipt-id"))


def hutch_passcode() -> str:
    return mint_token(LOGIN, SECRET)


@pytest.mark.parametrize("name", list(SAME))
def test_the_same_reply_as_rabbitmq(hutch: RunningHub, name: str) -> None:
    case = SAME[name]
    assert first_reply(RABBITMQ_STOMP, case, "guest") == case.reply, "RabbitMQ"
    assert first_reply(hutch.tcp_port, case, hutch_passcode()) == case.reply, "hutch"


@pytest.mark.parametrize("name", list(DIFFERENT))
def test_where_hutch_differs_on_purpose(hutch: RunningHub, name: str) -> None:
    frames, rabbitmq, ours = DIFFERENT[name]
    case = Case(frames, rabbitmq)
    assert first_reply(RABBITMQ_STOMP, case, "guest") == rabbitmq, "RabbitMQ"
    assert first_reply(hutch.tcp_port, case, hutch_passcode()) == ours, "hutch"


def test_every_rabbitmq_wording_hutch_uses_is_checked_against_rabbitmq() -> None:
    checked = {case.reply[1] for case in SAME.values() if case.reply[0] == "ERROR"}
    assert {str(words) for words in Wording} <= checked


@pytest.mark.parametrize(
    "frames",
    [
        frame("SEND", "x", destination="/queue/bah/baz"),
        frame("SEND", "x", destination="/topic"),
        frame("SEND", "x", destination="/exchange//foo"),
        frame("WRONGCOMMAND", destination="a"),
        frame("SUBSCRIBE", id="1", destination="/topic/a")
        + frame("SUBSCRIBE", id="1", destination="/topic/b"),
        frame("SEND", "x", destination="/topic/a", message_id="1"),
        frame("SUBSCRIBE", id="1", destination="/exchange/hutch-compat-none"),
        frame("SUBSCRIBE", id="1", destination="/amq/queue/hutch-compat-none"),
    ],
    ids=[
        "queue with a slash",
        "a bare kind",
        "exchange of no name",
        "bad command",
        "duplicate id",
        "message-id",
        "no exchange",
        "no queue",
    ],
)
def test_the_same_error_body_as_rabbitmq(hutch: RunningHub, frames: bytes) -> None:
    """The body too, where RabbitMQ's own tests read it."""
    bodies = []
    for port, passcode in ((RABBITMQ_STOMP, "guest"), (hutch.tcp_port, hutch_passcode())):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(CONNECT.format(host="/", login=LOGIN, passcode=passcode).encode())
            read_frames(sock)
            sock.sendall(frames)
            [error, *_] = read_frames(sock)
            bodies.append((error.headers["message"], error.body))
    assert bodies[0] == bodies[1]


@pytest.mark.parametrize(
    "connect",
    [
        "CONNECT\naccept-version:100.1\nhost:/\nlogin:{login}\npasscode:{passcode}\n\n\x00",
        "CONNECT\naccept-version:1.2\nhost:/\nlogin:{login}\npasscode:gust\n\n\x00",
        "CONNECT\naccept-version:1.1\nhost://\nlogin:{login}\npasscode:{passcode}\n\n\x00",
    ],
    ids=["version", "passcode", "virtual host"],
)
def test_the_same_login_refusal_as_rabbitmq(hutch: RunningHub, connect: str) -> None:
    refusals = []
    for port, passcode in ((RABBITMQ_STOMP, "guest"), (hutch.tcp_port, hutch_passcode())):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(connect.format(login=LOGIN, passcode=passcode).encode())
            [error, *_] = read_frames(sock)
            refusals.append((error.headers["message"], error.body))
    assert refusals[0] == refusals[1]
