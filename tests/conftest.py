from collections.abc import Iterator

import pytest
from backends import BROKERS, hub_settings
from hub_server import RunningHub, running_hub


@pytest.fixture(scope="session", params=BROKERS)
def hub(request: pytest.FixtureRequest) -> Iterator[RunningHub]:
    """A hub on a loopback port, on each broker backend in turn (RabbitMQ must be up: no skip)."""
    # No worker here: the `messages` queue has one active consumer, and it should be the worker of
    # the module under test (with that module's settings), not this hub's, which lives all session.
    with running_hub(**hub_settings(request.param) | {"worker": request.param == "memory"}) as running:
        yield running
