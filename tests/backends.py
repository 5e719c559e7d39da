"""The broker backends every behavioural test runs against."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

AMQP_URL = os.environ.get("HUTCH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("HUTCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BROKERS = ["memory", "amqp"]


def hub_settings(backend: str) -> dict[str, object]:
    """The hub on embedded defaults, or on RabbitMQ and Redis (with the worker in process)."""
    if backend == "amqp":
        return {"amqp_url": AMQP_URL, "redis_url": REDIS_URL, "worker": True}
    return {}


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until check() holds: RabbitMQ delivers after it confirms, not before."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


STORES = ["memory", "redis"]
