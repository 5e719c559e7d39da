"""The WebSub hub against loopback subscribers and a publisher, on both backends: verification of
intent, signed distribution, renewal, unsubscription, leases, 410, retries, and its own feeds."""

import asyncio
import hashlib
import hmac
import time
import uuid

import httpx
import pytest
from backends import REDIS_URL, SECRET, eventually, rabbitmq_vhost
from hub_server import RunningHub, free_port, hub_fixture, running_hub
from security.helpers import Api
from websub_peers import ATOM, Peers

hub = hub_fixture(jwt_secret=SECRET)


def tag() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def peers():
    async with Peers(free_port()).running() as running:
        yield running


async def ask(hub: RunningHub, **fields: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{hub.url}/websub", data={f"hub.{k}": v for k, v in fields.items()})


async def test_verified_intent_then_signed_delivery(hub: RunningHub, peers: Peers) -> None:
    topic, name = f"{peers.base}/topic?t={tag()}", f"ok{tag()}"
    answer = await ask(
        hub,
        mode="subscribe",
        topic=topic,
        callback=f"{peers.callback(name)}?keep=me",
        secret="s3cret",
        lease_seconds="3600",
        unknown="ignored",
    )
    assert answer.status_code == 202 and answer.headers["content-type"].startswith("text/plain")
    await eventually(lambda: bool(peers.verifications[name]))
    [asked] = peers.verifications[name]
    assert asked["keep"] == "me" and asked["hub.mode"] == "subscribe" and asked["hub.topic"] == topic
    assert asked["hub.lease_seconds"] == "3600" and len(asked["hub.challenge"]) >= 16
    await eventually(
        lambda: hub.call(hub.node.websub.store.get(topic, f"{peers.callback(name)}?keep=me")) is not None
    )
    assert (await ask(hub, mode="publish", url=topic)).status_code == 202
    await eventually(lambda: bool(peers.deliveries[name]))
    [got] = peers.deliveries[name]
    assert got.body == peers.topic_body and got.headers["content-type"] == ATOM
    assert f'<{topic}>; rel="self"' in got.headers["link"] and 'rel="hub"' in got.headers["link"]
    expected = hmac.new(b"s3cret", got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-hub-signature"] == f"sha256={expected}"


@pytest.mark.parametrize("behaviour", ["wrong", "missing", "moved"])
async def test_no_subscription_without_the_exact_challenge_from_a_2xx(
    hub: RunningHub, peers: Peers, behaviour: str
) -> None:
    topic, name = f"{peers.base}/topic?t={tag()}", f"{behaviour}{tag()}"
    assert (await ask(hub, mode="subscribe", topic=topic, callback=peers.callback(name))).status_code == 202
    await eventually(lambda: bool(peers.verifications[name]))
    await asyncio.sleep(0.2)
    assert hub.call(hub.node.websub.store.get(topic, peers.callback(name))) is None


async def test_no_signature_without_a_secret_and_a_failed_renewal_keeps_delivering(
    hub: RunningHub, peers: Peers
) -> None:
    topic, name = f"{peers.base}/topic?t={tag()}", f"ok{tag()}"
    callback = peers.callback(name)
    await ask(hub, mode="subscribe", topic=topic, callback=callback)
    await eventually(lambda: hub.call(hub.node.websub.store.get(topic, callback)) is not None)
    peers.refusing.add(name)  # a renewal with a secret, whose verification fails: nothing changes
    await ask(hub, mode="subscribe", topic=topic, callback=callback, secret="new")
    await eventually(lambda: len(peers.verifications[name]) == 2)
    await asyncio.sleep(0.2)
    assert hub.call(hub.node.websub.store.get(topic, callback)).secret == ""
    peers.refusing.discard(name)
    await ask(hub, mode="publish", topic=topic)  # websub.rocks names the topic hub.topic
    await eventually(lambda: bool(peers.deliveries[name]))
    assert "x-hub-signature" not in peers.deliveries[name][0].headers
    await ask(hub, mode="unsubscribe", topic=topic, callback=callback)
    await eventually(lambda: hub.call(hub.node.websub.store.get(topic, callback)) is None)
    assert peers.verifications[name][-1]["hub.mode"] == "unsubscribe"


async def test_410_drops_the_subscription_and_failures_are_retried(hub: RunningHub, peers: Peers) -> None:
    topic = f"{peers.base}/topic?t={tag()}"
    gone, failing = f"gone{tag()}", f"failing{tag()}"
    hub.node.websub.limits = hub.node.websub.limits.__class__(allow_private=True, backoff=0.05)
    for name in (gone, failing):
        await ask(hub, mode="subscribe", topic=topic, callback=peers.callback(name))
        await eventually(
            lambda name=name: hub.call(hub.node.websub.store.get(topic, peers.callback(name))) is not None
        )
    await ask(hub, mode="publish", url=topic)
    await eventually(lambda: peers.attempts[failing] >= 3, timeout=10)
    peers.healed.add(failing)
    await eventually(lambda: bool(peers.deliveries[failing]), timeout=10)
    assert hub.call(hub.node.websub.store.get(topic, peers.callback(gone))) is None


async def test_a_lease_ends_with_the_sweep(hub: RunningHub, peers: Peers) -> None:
    topic, name = f"{peers.base}/topic?t={tag()}", f"ok{tag()}"
    await ask(hub, mode="subscribe", topic=topic, callback=peers.callback(name), lease_seconds="120")
    await eventually(lambda: hub.call(hub.node.websub.store.get(topic, peers.callback(name))) is not None)
    websub = hub.node.websub
    websub.clock = lambda: time.time() + 121  # two minutes on
    try:
        assert hub.call(websub.sweep()) >= 1
    finally:
        websub.clock = time.time
    assert hub.call(websub.store.get(topic, peers.callback(name))) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"mode": "subscribe", "topic": "http://example.org/t"},
        {"mode": "subscribe", "callback": "http://example.org/c"},
        {"mode": "follow", "topic": "http://example.org/t", "callback": "http://example.org/c"},
        {"mode": "subscribe", "topic": "ftp://example.org/t", "callback": "http://example.org/c"},
        {
            "mode": "subscribe",
            "topic": "http://example.org/t",
            "callback": "http://example.org/c",
            "secret": "x" * 200,
        },
        {"mode": "publish"},
    ],
)
async def test_bad_requests_get_400_in_plain_text(hub: RunningHub, fields: dict) -> None:
    answer = await ask(hub, **fields)
    assert (
        answer.status_code == 400 and answer.headers["content-type"].startswith("text/plain") and answer.text
    )


async def test_a_public_contexts_feeds_are_topics_of_the_hub(hub: RunningHub, peers: Peers) -> None:
    admin, ana = Api(hub, f"admin{tag()}", roles=["admin"]), Api(hub, f"ana{tag()}")
    public = {"url": f"https://town.example/{tag()}", "permissions": {"read": "public", "write": "public"}}
    hash = (await admin.call("POST", "/api/contexts", public, status=201))["hash"]
    closed = (
        await admin.call("POST", "/api/contexts", {"url": f"https://town.example/{tag()}"}, status=201)
    )["hash"]
    denied = f"ok{tag()}"
    closed_topic = f"{hub.url}/websub/contexts/{closed}.atom"
    assert (
        await ask(hub, mode="subscribe", topic=closed_topic, callback=peers.callback(denied))
    ).status_code == 202
    await eventually(lambda: bool(peers.verifications[denied]))
    assert (
        peers.verifications[denied][0]["hub.mode"] == "denied"
        and peers.verifications[denied][0]["hub.reason"]
    )
    async with httpx.AsyncClient(base_url=hub.url) as http:
        assert (await http.get(f"/websub/contexts/{closed}.atom")).status_code == 404
        page = await http.get(f"/websub/contexts/{hash}.atom")
    topic = f"{hub.url}/websub/contexts/{hash}.atom"
    assert page.status_code == 200 and page.headers["content-type"].startswith(ATOM)
    assert (
        f'<{topic}>; rel="self"' in page.headers["link"]
        and f'<{hub.url}/websub>; rel="hub"' in page.headers["link"]
    )
    name = f"ok{tag()}"
    await ask(hub, mode="subscribe", topic=topic, callback=peers.callback(name))
    await eventually(lambda: hub.call(hub.node.websub.store.get(topic, peers.callback(name))) is not None)
    await ana.call(
        "POST", f"/api/contexts/{hash}/activities", {"content": "Market on <b>Sunday</b>"}, status=201
    )
    await eventually(lambda: bool(peers.deliveries[name]))
    delivered = peers.deliveries[name][0]
    assert delivered.headers["content-type"].startswith(ATOM) and b"Market on" in delivered.body
    async with httpx.AsyncClient(base_url=hub.url) as http:
        feed = (await http.get(f"/websub/contexts/{hash}.json")).json()
    assert feed["items"][0]["content_text"] == "Market on Sunday" and feed["hubs"][0]["type"] == "WebSub"


async def test_outside_tests_the_hub_never_reaches_private_addresses() -> None:
    with running_hub(websub_allow_private=False) as guarded:
        for callback in (
            "http://127.0.0.1:9/cb",
            "http://10.0.0.8/cb",
            "http://[::1]/cb",
            "http://169.254.169.254/x",
        ):
            answer = await ask(guarded, mode="subscribe", topic="http://127.0.0.1:9/t", callback=callback)
            assert answer.status_code == 400 and "private" in answer.text


async def test_a_thousand_subscribers_and_one_slow_and_one_failing_do_not_hold_up_the_rest(
    peers: Peers,
) -> None:
    with running_hub() as single:
        topic = f"{peers.base}/topic?t={tag()}"
        names = [f"ok{n}-{tag()}" for n in range(998)] + [f"slow{tag()}", f"failing{tag()}"]
        async with httpx.AsyncClient() as http:
            for start in range(0, len(names), 50):
                forms = [
                    {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": peers.callback(name)}
                    for name in names[start : start + 50]
                ]
                answers = await asyncio.gather(
                    *(http.post(f"{single.url}/websub", data=form) for form in forms)
                )
                assert {a.status_code for a in answers} == {202}
        await eventually(
            lambda: len(single.call(single.node.websub.store.of_topic(topic))) == 1000, timeout=30
        )
        peers.slow_seconds = 60  # it answers long after everyone else is served
        await ask(single, mode="publish", url=topic)
        await eventually(lambda: len(peers.deliveries) >= 998, timeout=40)
        assert sorted(peers.deliveries) == sorted(names[:998])  # the slow one still waits
        # At least once each: a delivery answered too late for the hub's timeout is sent again.
        assert all(peers.deliveries[name] for name in names[:998])
        assert peers.attempts[names[-1]] >= 1 and not peers.deliveries[names[-1]]


async def test_sha512_signatures_when_the_hub_is_set_so(peers: Peers) -> None:
    with running_hub(websub_signature="sha512") as signing:
        topic, name = f"{peers.base}/topic?t={tag()}", f"ok{tag()}"
        await ask(signing, mode="subscribe", topic=topic, callback=peers.callback(name), secret="k")
        await eventually(
            lambda: signing.call(signing.node.websub.store.get(topic, peers.callback(name))) is not None
        )
        await ask(signing, mode="publish", url=topic)
        await eventually(lambda: bool(peers.deliveries[name]))
        got = peers.deliveries[name][0]
        assert (
            got.headers["x-hub-signature"] == "sha512=" + hmac.new(b"k", got.body, hashlib.sha512).hexdigest()
        )


async def test_a_retry_waiting_when_its_node_stops_is_sent_by_the_next(peers: Peers) -> None:
    with rabbitmq_vhost() as amqp:
        settings = {"amqp_url": amqp, "redis_url": REDIS_URL, "worker": True}
        topic, name = f"{peers.base}/topic?t={tag()}", f"failing{tag()}"
        with running_hub(**settings) as first:
            await ask(first, mode="subscribe", topic=topic, callback=peers.callback(name))
            await eventually(
                lambda: first.call(first.node.websub.store.get(topic, peers.callback(name))) is not None
            )
            await ask(first, mode="publish", url=topic)
            await eventually(lambda: peers.attempts[name] >= 1, timeout=10)
        peers.healed.add(name)  # the first node is gone with its retry due in a second or so
        with running_hub(**settings):
            await eventually(lambda: bool(peers.deliveries[name]), timeout=15)
