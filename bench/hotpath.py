"""The hub's own cost of a chat message, in process: no sockets, no WebSocket, no load generator.

    python -m bench.hotpath [--users 500] [--group 5] [--rounds 40] [--coded]

Opens U sessions on an embedded node (dev mode), puts them in conversations of G, subscribes
each to its own stream, then has every user SEND a message with a receipt, R rounds (with
--coded a MAX message with a uuid in packed JSON, as the widget sends one); the
frames each session queues are taken a loop pass later, as a socket's writer would. It
prints the CPU per message and per delivery. What it leaves out (WebSocket framing, system
calls, the generator) is what `python -m bench` adds; its figure is steadier, and under
`valgrind --tool=callgrind` (instructions, whatever else the machine does) it shows a
change to the message path that a loaded machine's timings would hide:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m bench.hotpath --rounds 10
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import uuid

from hutch.hub.auth import Identity
from hutch.hub.core.session import Session
from hutch.hub.node import HubNode
from hutch.hub.settings import Settings

from bench.loadgen import CODED


class Chat:
    """U sessions in conversations of G, each subscribed to its own stream."""

    def __init__(self, node: HubNode, coded: bool = False):
        self.node = node
        self.coded = coded
        self.sessions: dict[str, Session] = {}
        self.conversation_of: dict[str, str] = {}
        self.frames_out = 0
        self._due: dict[Session, None] = {}

    async def open(self, users: list[str], group: int) -> None:
        for first in range(0, len(users), group):
            members = users[first : first + group]
            conversation, _ = await self.node.conversations.create(Identity(members[0]), members[1:])
            self.conversation_of.update(dict.fromkeys(members, conversation.id))
        for user in users:
            session = self.node.open_session(
                f"hotpath {user}", on_ready=lambda user=user: self._due.setdefault(self.sessions[user])
            )
            self.sessions[user] = session
            await session.receive(f"CONNECT\naccept-version:1.2\nhost:/\nlogin:{user}\n\n\x00".encode())
            await session.receive(
                f"SUBSCRIBE\nid:0\ndestination:/exchange/{user}.subscribe\nreceipt:r\n\n\x00".encode()
            )
        await self.settle()

    async def round(self, number: int) -> None:
        """Every user sends one message; returns once everything it caused is queued and taken."""
        for user, session in self.sessions.items():
            destination = f"/exchange/{user}.publish/{self.conversation_of[user]}.messages"
            headers, body = f"destination:{destination}\nreceipt:{number}\n", "hello"
            if self.coded:
                headers += f"content-type:{CODED}\n"
                body = f'{{"g":"{uuid.uuid4().hex}","a":"a","o":"m","d":{{"text":"hello"}}}}'
            await session.receive(f"SEND\n{headers}\n{body}\x00".encode())
        await self.settle()

    async def settle(self) -> None:
        for _ in range(5):  # the worker's store and ack run a pass or two after the SEND
            await asyncio.sleep(0)
            self._take()

    def _take(self) -> None:
        due, self._due = self._due, {}
        for session in due:
            self.frames_out += len(session.outbox.take())


async def measure(users: int, group: int, rounds: int, coded: bool) -> None:
    node = HubNode(Settings(dev_mode=True))
    await node.start()
    chat = Chat(node, coded)
    await chat.open([f"u{n}" for n in range(users)], group)
    await chat.round(0)  # warm: every route and conversion cached as in a running node
    gc.collect()
    gc.freeze()
    chat.frames_out = 0
    started = time.process_time()
    for number in range(1, rounds + 1):
        await chat.round(number)
    cpu = time.process_time() - started
    messages = users * rounds
    print(
        f"{messages:,} {'MAX' if coded else 'chat'} messages in conversations of {group}: {cpu / messages * 1e6:.1f} µs of CPU "
        f"per message, {cpu / messages / group * 1e6:.2f} µs per delivery, "
        f"{chat.frames_out / messages:.1f} frames out per message"
    )
    await node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--group", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--coded", action="store_true", help="MAX messages with uuids, not plain text")
    args = parser.parse_args()
    run = measure(args.users, args.group, args.rounds, args.coded)
    try:  # the loop `hutch serve` runs on when it is installed
        import uvloop
    except ImportError:
        asyncio.run(run)
    else:
        uvloop.run(run)


if __name__ == "__main__":
    main()
