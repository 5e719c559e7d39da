from collections.abc import Iterator

import pytest
from backends import BROKERS, hub_settings
from hub_server import RunningHub, running_hub


@pytest.fixture(scope="session", params=BROKERS)
def hub(request: pytest.FixtureRequest) -> Iterator[RunningHub]:
    """A hub on a loopback port, on each broker backend in turn (RabbitMQ must be up: no skip)."""
    with running_hub(**hub_settings(request.param)) as running:
        yield running
