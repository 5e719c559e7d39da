from collections.abc import Iterator

import pytest
from backends import BROKERS, hub_settings
from hub_server import RunningHub, running_hub
from security.helpers import SECRET


@pytest.fixture(scope="session", params=BROKERS)
def guarded(request: pytest.FixtureRequest) -> Iterator[RunningHub]:
    """A hub with the default grants (a user reaches only their own names and conversations),
    on each backend in turn, with its worker."""
    settings = hub_settings(request.param) | {"permissions_file": None, "worker": True, "jwt_secret": SECRET}
    with running_hub(**settings) as hub:
        yield hub
