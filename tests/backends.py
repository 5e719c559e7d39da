"""The broker backends every behavioural test runs against."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

AMQP_URL = os.environ.get("HUTCH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("HUTCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BROKERS = ["memory", "amqp"]
SECRET = "hutch-tests-hs256-secret-of-32-bytes!"  # every test hub's HUTCH_JWT_SECRET


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


@contextlib.contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """The URL of a vhost of RabbitMQ's own for one test, so that what others left is not there."""
    vhost = f"test-{uuid.uuid4().hex[:8]}"
    for command in (["add_vhost", vhost], ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]):
        subprocess.run(["rabbitmqctl", "-q", *command], check=True, capture_output=True)
    try:
        yield f"{AMQP_URL.rstrip('/')}/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)


def store_fixture(memory: Callable[[], Any], redis: Callable[[Any], Any]) -> Any:
    """A fixture: a store made by `memory()`, then one made by `redis(client)` on the test Redis,
    so that one contract test holds both backends to the same behaviour."""
    import pytest
    from hutch.hub.store.redis import connect

    @pytest.fixture(params=STORES)
    async def store(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
        if request.param == "memory":
            yield memory()
            return
        client = connect(REDIS_URL)
        yield redis(client)
        await client.aclose()

    return store
