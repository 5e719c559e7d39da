"""The REST API fuzzed from its own OpenAPI document: no server error, nothing outside the document.

schemathesis generates requests from the document (valid ones and near misses) and checks
every answer: never a 5xx, a status the document lists, a body that fits its schema. On both
backends (RabbitMQ in a vhost of its own: the users it makes up leave their exchanges there),
as a user and as an admin.
"""

from collections.abc import Iterator

import pytest
import redis
import schemathesis
from backends import AMQP_URL, REDIS_URL, SECRET, rabbitmq_vhost
from hub_server import RunningHub, running_hub
from hutch.hub.app import OPERATIONS
from hutch.hub.auth import mint_token
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

# A Redis database of the fuzz's own: the sends and broadcasts it schedules come due at times it
# makes up, and would otherwise be run later by the worker of any other test's hub.
FUZZ_REDIS = f"{REDIS_URL.rsplit('/', 1)[0]}/11"


@pytest.fixture(scope="module", params=["memory", "amqp"])
def fuzzed(request: pytest.FixtureRequest) -> Iterator[RunningHub]:
    if request.param == "memory":
        # With a compatibility id, made-up X-Max-Compat-ID headers meet their 412.
        with running_hub(dev_mode=False, jwt_secret=SECRET, permissions_file=None, max_compat_id="7") as hub:
            yield hub
        return
    assert AMQP_URL.startswith("amqp://")
    redis.Redis.from_url(FUZZ_REDIS).flushdb()
    with (
        rabbitmq_vhost() as url,
        running_hub(
            amqp_url=url,
            redis_url=FUZZ_REDIS,
            worker=True,
            dev_mode=False,
            jwt_secret=SECRET,
            permissions_file=None,
        ) as hub,
    ):
        yield hub
    redis.Redis.from_url(FUZZ_REDIS).flushdb()


@pytest.fixture(scope="module")
def api_schema(fuzzed: RunningHub) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed.url}/api/openapi.json")


TOKENS = {"user": mint_token("fuzzuser", SECRET), "admin": mint_token("fuzzadmin", SECRET, roles=["admin"])}


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda mode: mode.value)
@pytest.mark.parametrize(("method", "path"), [(op.method, op.path) for op in OPERATIONS])
def test_the_api_answers_as_its_document_says(
    api_schema: schemathesis.BaseSchema,
    fuzzed: RunningHub,
    method: str,
    path: str,
    mode: schemathesis.GenerationMode,
) -> None:
    """Valid requests (positive) and requests the document refuses (negative)."""
    operation = api_schema[path][method]
    # The document's user-name pattern says ASCII (JSON Schema cannot say "letters of any
    # script"); the hub also takes `josé`, which the negative check would call a miss.
    excluded = [negative_data_rejection]
    if next(op for op in OPERATIONS if (op.method, op.path) == (method, path)).describes.form is not None:
        # A document cannot say "a real picture": made-up bytes are refused as they should be.
        excluded.append(positive_data_acceptance)

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def answers(case: schemathesis.Case) -> None:
        for token in TOKENS.values():  # each case as a user, then as an admin
            case.call_and_validate(
                headers={"Authorization": f"Bearer {token}"},
                base_url=fuzzed.url,
                excluded_checks=excluded,
            )

    answers()
