"""The store's lean Redis connection: replies in order, errors in their place, and whatever it
cannot carry (a lost connection, Redis away, a password refused) handled as the redis-py client
handles it. On both loops: a node serves on uvloop, whose transports are not asyncio's classes."""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import redis
import uvloop
from backends import REDIS_URL
from hub_server import free_port
from hutch.hub.store.redis import connect
from hutch.hub.store.redis_lane import NAME, RedisLane
from private_redis import lone_redis
from redis.exceptions import NoScriptError, ResponseError

Run = Callable[[Coroutine[Any, Any, Any]], Any]
LOOPS: dict[str, Run] = {"asyncio": asyncio.run, "uvloop": uvloop.run}


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Run:
    return LOOPS[request.param]


def lane_ids(client: redis.Redis) -> list[int]:
    return [entry["id"] for entry in client.client_list() if entry["name"] == NAME]


async def on_lane(url: str, use: Callable[[RedisLane], Coroutine[Any, Any, Any]]) -> Any:
    client = connect(url)
    lane = RedisLane(client)
    try:
        return await use(lane)
    finally:
        await lane.close()
        await client.aclose()


def test_replies_come_in_order_with_an_error_in_its_place(run: Run) -> None:
    redis.Redis.from_url(REDIS_URL).delete("lane:a", "lane:b")
    commands = [
        ("SET", "lane:a", "ä"),
        ("EVALSHA", "0" * 40, 0),
        ("INCR", "lane:a"),
        ("INCRBY", "lane:b", 2),
        ("GET", "lane:a"),
    ]
    answers = run(on_lane(REDIS_URL, lambda lane: lane.run(commands)))
    assert answers[0] in (True, "OK")
    assert isinstance(answers[1], NoScriptError)
    assert isinstance(answers[2], ResponseError) and "not an integer" in str(answers[2])
    assert answers[3:] == [2, "ä"]


def test_batches_sent_together_each_get_their_own_replies(run: Run) -> None:
    async def together(lane: RedisLane) -> list[list[Any]]:
        return await asyncio.gather(*(lane.run([("ECHO", f"n{n}"), ("ECHO", f"m{n}")]) for n in range(200)))

    with lone_redis() as port:
        admin = redis.Redis(port=port, decode_responses=True)

        async def and_count(lane: RedisLane) -> tuple[list[list[Any]], int]:
            return await together(lane), len(lane_ids(admin))

        answers, lanes = run(on_lane(f"redis://127.0.0.1:{port}/0", and_count))
    assert answers == [[f"n{n}", f"m{n}"] for n in range(200)]
    assert lanes == 1  # all on the lane's one connection


def test_a_connection_killed_under_it_is_replaced(run: Run) -> None:
    with lone_redis() as port:
        admin = redis.Redis(port=port, decode_responses=True)

        async def killed(lane: RedisLane) -> tuple[int, int]:
            assert await lane.run([("ECHO", "before")]) == ["before"]
            (first,) = lane_ids(admin)
            admin.client_kill_filter(_id=first)
            assert await lane.run([("ECHO", "during")]) == ["during"]  # the client's way, or a new lane
            assert await lane.run([("ECHO", "after")]) == ["after"]
            (second,) = lane_ids(admin)
            return first, second

        first, second = run(on_lane(f"redis://127.0.0.1:{port}/0", killed))
    assert second != first


def test_the_password_and_database_of_the_url_are_used(run: Run) -> None:
    with lone_redis() as port:
        redis.Redis(port=port).config_set("requirepass", "s3cret")
        admin = redis.Redis(port=port, password="s3cret", db=3, decode_responses=True)

        async def set_and_count(lane: RedisLane) -> int:
            await lane.run([("SET", "lane:db", "three")])
            return len(lane_ids(admin))

        assert run(on_lane(f"redis://:s3cret@127.0.0.1:{port}/3", set_and_count)) == 1  # on the lane
        assert admin.get("lane:db") == "three"


def test_a_wrong_password_is_refused_as_the_client_refuses_it(run: Run) -> None:
    with lone_redis() as port:
        redis.Redis(port=port).config_set("requirepass", "s3cret")
        with pytest.raises(redis.exceptions.AuthenticationError):
            run(
                on_lane(
                    f"redis://:forged@127.0.0.1:{port}/0", lambda lane: lane.run([("SET", "lane:x", "1")])
                )
            )
        assert redis.Redis(port=port, password="s3cret").get("lane:x") is None
        assert len(redis.Redis(port=port, password="s3cret").client_list()) == 1  # no connection left behind


def test_redis_away_raises_the_clients_connection_error(run: Run) -> None:
    with pytest.raises(redis.exceptions.ConnectionError):
        run(on_lane(f"redis://127.0.0.1:{free_port()}/0", lambda lane: lane.run([("ECHO", "anyone?")])))


def test_a_batch_redis_does_not_answer_in_time_goes_through_the_client_on_a_new_lane(run: Run) -> None:
    with lone_redis() as port:
        admin = redis.Redis(port=port, decode_responses=True)

        async def paused(lane: RedisLane) -> tuple[int, list[Any], int]:
            assert await lane.run([("ECHO", "before")]) == ["before"]
            (first,) = lane_ids(admin)
            admin.execute_command("CLIENT", "PAUSE", 1500, "ALL")  # answers nobody for 1.5 s
            answers = await lane.run([("ECHO", "paused")])  # the client's way, once the lane gave up
            assert await lane.run([("ECHO", "after")]) == ["after"]
            (second,) = lane_ids(admin)
            return first, answers, second

        client = connect(f"redis://127.0.0.1:{port}/0")
        lane = RedisLane(client, timeout=0.3)

        async def use() -> tuple[int, list[Any], int]:
            try:
                return await paused(lane)
            finally:
                await lane.close()
                await client.aclose()

        first, answers, second = run(use())
    assert answers == ["paused"]
    assert second != first  # the connection that kept the batch waiting was dropped
