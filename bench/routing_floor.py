"""RabbitMQ's own CPU for routing chat messages through the MAX topology, with nothing else.

    python -m bench.routing_floor [--users 500] [--group 5] [--messages 40]

Every MAX chat message is published to `<user>.publish` with key `<cid>.messages` and routed
on to `conversations` and to each member's `<user>.subscribe`, whoever serves the members:
Web-STOMP does this once per message, hutch over RabbitMQ once for the message and once for
its "stored" ack. This declares that topology (U users in conversations of G, in a vhost of
its own, no queue bound anywhere), publishes with publisher confirms, and prints RabbitMQ's
CPU per message and per delivery (a message reaches G members): the floor under any hub
that keeps the MAX topology on RabbitMQ. It then publishes as many messages to an exchange
with no bindings at all: what RabbitMQ costs to take a message and confirm it, routing it
nowhere, the floor under any hub that hands RabbitMQ each message.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time

import aiormq

from bench.__main__ import AMQP, add_vhost, beam_pid, cpu_seconds, declare_max_topology, tree

UNBOUND = "hutch.bench.unbound"


async def declare_exchange(url: str, name: str) -> None:
    connection = await aiormq.connect(url)
    channel = await connection.channel()
    await channel.exchange_declare(name, exchange_type="topic")
    await connection.close()


async def publish_all(url: str, senders: list[tuple[str, str]], messages: int) -> float:
    """Publish `messages` per (exchange, key), 100 unconfirmed at most; returns RabbitMQ's CPU seconds."""
    connection = await aiormq.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    beam = tree(beam_pid())
    window = asyncio.Semaphore(100)

    async def one(exchange: str, key: str, n: int) -> None:
        async with window:
            await channel.basic_publish(f"{n}:{time.time_ns()}".encode(), exchange=exchange, routing_key=key)

    before = cpu_seconds(beam)
    await asyncio.gather(*(one(exchange, key, n) for n in range(messages) for exchange, key in senders))
    spent = cpu_seconds(beam) - before
    await connection.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--group", type=int, default=5)
    parser.add_argument("--messages", type=int, default=40, help="per user")
    args = parser.parse_args()
    users = [f"r{i}" for i in range(args.users)]
    groups = [users[i : i + args.group] for i in range(0, len(users), args.group)]
    conversations = [(f"c{i}", group) for i, group in enumerate(groups)]
    vhost = add_vhost()
    url = f"{AMQP.rstrip('/')}/{vhost}"
    try:
        asyncio.run(declare_max_topology(url, conversations))
        senders = [(f"{user}.publish", f"{cid}.messages") for cid, group in conversations for user in group]
        routed = asyncio.run(publish_all(url, senders, args.messages))
        asyncio.run(declare_exchange(url, UNBOUND))
        alone = asyncio.run(publish_all(url, [(UNBOUND, "x")] * len(senders), args.messages))
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True)
    published = len(senders) * args.messages
    for spent, what in (
        (routed, f"routed through the MAX topology ({args.users} users, groups of {args.group})"),
        (alone, "published to an exchange with no bindings"),
    ):
        per_message = spent / published * 1e6
        print(
            f"{published:,} messages {what}: RabbitMQ CPU {per_message:.1f} µs per message, "
            f"{per_message / args.group:.1f} µs per delivery of a conversation of {args.group}"
        )


if __name__ == "__main__":
    main()
