"""How long a node's fan-out takes when many subscriptions come and go, and to route new keys.

    python -m bench.fanout_churn [--subscribers 10000] [--conversations 10000]

On the embedded broker, one core. Printed, in seconds of the event loop (nothing else runs
meanwhile, so each figure is a stall every connection of the node waits through):

- subscribers on one key, attached and then detached one by one: what a node does when a
  network drop ends the connections of a whole topic at once;
- a user stream's `<cid>.*` binding per conversation, then one message to each conversation:
  the first message of a routing key is matched against the tap's bindings.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from hutch.hub.broker.base import Message
from hutch.hub.broker.memory import MemoryBroker
from hutch.hub.core.fanout import NodeFanout
from hutch.hub.messages.encoding import LocalCopy


class Counting:
    def __init__(self) -> None:
        self.got = 0

    def deliver(self, message: LocalCopy) -> None:
        self.got += 1


async def one_key(subscribers: int) -> tuple[float, float]:
    broker = MemoryBroker()
    await broker.declare_exchange("news", "topic")
    fanout = NodeFanout(broker, "bench")
    targets = [Counting() for _ in range(subscribers)]
    start = time.perf_counter()
    for target in targets:
        await fanout.attach("news", "sport.tennis", target)
    attached = time.perf_counter()
    for target in targets:
        await fanout.detach("news", "sport.tennis", target)
    return attached - start, time.perf_counter() - attached


async def conversations(count: int) -> float:
    broker = MemoryBroker()
    await broker.declare_exchange("conversations", "topic")
    fanout = NodeFanout(broker, "bench")
    stream = Counting()
    for n in range(count):
        await fanout.attach("conversations", f"c{n}.*", stream)
    start = time.perf_counter()
    for n in range(count):
        await broker.publish("conversations", f"c{n}.messages", Message(b"hi"))
    while stream.got < count:  # the embedded broker delivers on the loop
        await asyncio.sleep(0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=10_000)
    args = parser.parse_args()
    attach, detach = asyncio.run(one_key(args.subscribers))
    print(
        f"{args.subscribers:,} subscribers on one key: attached in {attach:.3f} s, detached in {detach:.3f} s"
    )
    routed = asyncio.run(conversations(args.conversations))
    print(f"{args.conversations:,} conversations, the first message of each routed in {routed:.3f} s")


if __name__ == "__main__":
    main()
