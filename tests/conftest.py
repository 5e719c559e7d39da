from collections.abc import Iterator

import pytest
from hub_server import RunningHub, running_hub

BROKERS = ["memory"]


@pytest.fixture(scope="session", params=BROKERS)
def hub(request: pytest.FixtureRequest) -> Iterator[RunningHub]:
    """A hub on a loopback port, shared by the tests of one broker backend."""
    with running_hub() as running:
        yield running
