"""Three people in an open and a closed community on two nodes over RabbitMQ and Redis: joins
and refusals, posts, comments and likes, news live by preference, a push to the offline one,
and paging through 1,000 activities without a gap or a repeat."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from backends import REDIS_URL, SECRET, eventually, rabbitmq_vhost
from hub_server import RunningHub, WsClient, free_port, running_hub
from hutch.clients.python import APIError, HutchAPI
from hutch.hub.auth import mint_token
from hutch.rules import Form, decode
from push_services import PushServices


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushServices]:
    services = PushServices(Path(tmp_path_factory.mktemp("push")), free_port())
    yield services
    services.close()


@pytest.fixture(scope="module")
def two_nodes(services: PushServices) -> Iterator[tuple[RunningHub, RunningHub]]:
    with rabbitmq_vhost() as amqp:
        shared = {"amqp_url": amqp, "redis_url": REDIS_URL, "jwt_secret": SECRET, "dev_mode": False}
        with (
            running_hub(**shared, worker=True, push_bridge=True, **services.settings()) as one,
            running_hub(**shared, worker=False, push_bridge=False) as two,
        ):
            yield one, two


@pytest.fixture
async def push(services: PushServices) -> AsyncIterator[PushServices]:
    services.received.clear()
    await services.start()
    yield services
    await services.stop()


def api(hub: RunningHub, user: str, *roles: str) -> HutchAPI:
    return HutchAPI(hub.url, mint_token(user, SECRET, roles=list(roles)))


async def stream(hub: RunningHub, user: str) -> WsClient:
    client = await WsClient.open(hub, user, headers={"passcode": mint_token(user, SECRET)})
    await client.subscribe(f"/exchange/{user}.subscribe", "news")
    return client


async def news(client: WsClient) -> dict:
    return decode((await client.recv(5.0)).body, Form.PACKED_JSON, "max@1")


async def quiet(client: WsClient) -> bool:
    try:
        frame = await client.recv(0.7)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected {frame}")


async def test_three_people_two_communities_two_nodes(
    two_nodes: tuple[RunningHub, RunningHub], push: PushServices
) -> None:
    one, two = two_nodes
    run = uuid.uuid4().hex[:6]
    ana, bo, cy = f"ana{run}", f"bo{run}", f"cy{run}"
    admin = api(one, f"boss{run}", "admin")
    async with admin, api(one, ana) as anas, api(two, bo) as bos, api(two, cy) as cys:
        made = {
            "open": await admin.create_context(
                f"https://school.example/open/{run}", preset="open", notifications="comments"
            ),
            "closed": await admin.create_context(
                f"https://school.example/closed/{run}", preset="closed", notifications="posts", owner=ana
            ),
        }
        opened, closed = made["open"]["hash"], made["closed"]["hash"]
        for person, client in ((ana, anas), (bo, bos), (cy, cys)):
            await client.subscribe(opened, person)  # an open community: anyone joins
        with pytest.raises(APIError) as refused:
            await cys.subscribe(closed, cy)  # a closed one: the owner adds people
        assert refused.value.status == 403
        await anas.subscribe(closed, bo)
        with pytest.raises(APIError) as refused:
            await bos.post("members may not post here", context=closed)
        assert refused.value.status == 403

        await cys.preferences(opened, cy, realtime=False)  # cy reads later; pushes only
        await cys.register_device("android", token=f"fcm-{cy}")
        bos_stream, cys_stream = await stream(two, bo), await stream(two, cy)
        post = await anas.post("Field trip on <b>Friday</b>", context=opened)  # on node one
        arrived = await news(bos_stream)  # on node two
        assert (arrived["object"], arrived["data"]["id"]) == ("activity", post["id"])
        assert await quiet(cys_stream)  # realtime off: nothing live, and online: no push
        await cys_stream.close()  # cy goes offline: now a push
        second = await anas.post("Bring a lunch", context=opened)
        await eventually(lambda: len(push.of("fcm", f"fcm-{cy}")) == 1, timeout=10)
        assert push.of("fcm", f"fcm-{cy}")[0].payload["message"]["data"]["id"] == second["id"]

        comment = await bos.comment(post["id"], "Where do we meet?")
        assert (await news(bos_stream))["data"]["id"] == second["id"]
        shown = await news(bos_stream)  # the community tells comments too
        assert (shown["object"], shown["data"]["id"]) == ("comment", comment["id"])
        assert (await cys.like(post["id"]))["likesCount"] == 1
        assert (await anas.activity(post["id"]))["commentsCount"] == 1
        in_closed = await anas.post("Owners only", context=closed)
        assert (await news(bos_stream))["data"]["id"] == in_closed["id"]
        with pytest.raises(APIError) as hidden:
            await cys.activity(in_closed["id"])  # not a member: not even there
        assert hidden.value.status == 404
        await bos_stream.close()

        posted = [post["id"], second["id"], in_closed["id"]]
        for start in range(0, 997, 50):
            batch = [anas.post(f"n{n}", context=opened) for n in range(start, min(start + 50, 997))]
            posted += [made["id"] for made in await asyncio.gather(*batch)]
        seen, cursor = [], None
        while True:  # through node two, newest first, 37 at a time
            page = await bos.timeline(bo, limit=37, cursor=cursor)
            seen += [item["id"] for item in page["items"]]
            if not (cursor := page["next"]):
                break
        assert len(seen) == len(set(seen)) == 1000 and set(seen) == set(posted)
        assert seen == sorted(seen, reverse=True)
